#include "pointwise.h"

#include "../core/math.h"
#include "../core/parallel.h"
#include "../kernels/kernels.h"

namespace rm {

constexpr size_t kGrain = 16384;  // elements per thread below which splitting costs more than it saves

__attribute__((target_clones("avx512f", "avx2", "default")))
void relu_forward(float* out, const float* in, size_t N) {
  for (size_t i = 0; i < N; ++i) out[i] = relu(in[i]);
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void relu_backward(float* din, const float* dout, const float* out, size_t N) {
  for (size_t i = 0; i < N; ++i) din[i] = dout[i] * relu_grad(out[i]);
}

// Runs f over [0, N) on one thread (reference) or split across the compute threads (fast).
template <class F>
static void run(Impl impl, size_t N, F&& f) {
  if (impl == Impl::Reference) return f(size_t{0}, N);
  parallel_for(N, kGrain, f);
}

// GELU is the transformer kernels' (kernels.h); ReLU, which only the sequential models use, is here.
static Kernels& kernels_for(Impl impl) { return impl == Impl::Fast ? cpu_fast_kernels() : cpu_reference_kernels(); }

void Pointwise::forward(float* out, const float* in, const float* /*params*/, size_t B) {
  size_t n = B * shape_.size();
  if (act_ == Activation::Gelu) return kernels_for(impl_).gelu_forward(out, in, n);
  run(impl_, n, [&](size_t i0, size_t i1) { relu_forward(out + i0, in + i0, i1 - i0); });
}

void Pointwise::backward(float* din, float* /*dparams*/, const float* dout, const float* in,
                         const float* out, const float* /*params*/, size_t B, bool /*accumulate*/) {
  if (din == nullptr) return;
  size_t n = B * shape_.size();
  if (act_ == Activation::Gelu) return kernels_for(impl_).gelu_backward(din, dout, in, n);
  run(impl_, n, [&](size_t i0, size_t i1) { relu_backward(din + i0, dout + i0, out + i0, i1 - i0); });
}

}  // namespace rm
