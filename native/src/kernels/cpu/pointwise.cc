// Per-element kernels over activations, split across threads: GELU (math.h's formula, with the
// vectorisable exp), ReLU and residual additions.
#include "../../core/math.h"
#include "../../core/parallel.h"
#include "cpu_kernels.h"

namespace rm {

// Elements per thread at the least. A residual add streams 12 bytes per element at ~5 ns per
// 16: below ~256k elements a second thread costs more (waking it, moving the rows' cache lines
// to its core) than it saves, measured on the GPT step; GELU does ~20× the work per element.
constexpr size_t kGrain = 16384;
constexpr size_t kAddGrain = size_t(1) << 18;

#define RM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
RM_CLONES static void gelu_span(float* out, const float* in, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = gelu(in[i]);
}
RM_CLONES static void gelu_backward_span(float* din, const float* dout, const float* in, size_t n) {
  for (size_t i = 0; i < n; ++i) din[i] = dout[i] * gelu_grad(in[i]);
}
RM_CLONES static void relu_span(float* out, const float* in, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = relu(in[i]);
}
RM_CLONES static void relu_backward_span(float* din, const float* dout, const float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) din[i] = dout[i] * relu_grad(out[i]);
}
RM_CLONES static void add_span(float* out, const float* a, const float* b, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}
#undef RM_CLONES

void CpuKernels::gelu_forward(float* out, const float* in, size_t n) {
  parallel_for(n, kGrain, [&](size_t i0, size_t i1) { gelu_span(out + i0, in + i0, i1 - i0); });
}

void CpuKernels::gelu_backward(float* din, const float* dout, const float* in, size_t n) {
  parallel_for(n, kGrain, [&](size_t i0, size_t i1) { gelu_backward_span(din + i0, dout + i0, in + i0, i1 - i0); });
}

void CpuKernels::relu_forward(float* out, const float* in, size_t n) {
  parallel_for(n, kGrain, [&](size_t i0, size_t i1) { relu_span(out + i0, in + i0, i1 - i0); });
}

void CpuKernels::relu_backward(float* din, const float* dout, const float* out, size_t n) {
  parallel_for(n, kGrain, [&](size_t i0, size_t i1) { relu_backward_span(din + i0, dout + i0, out + i0, i1 - i0); });
}

void CpuKernels::residual_forward(float* out, const float* a, const float* b, size_t n) {
  parallel_for(n, kAddGrain, [&](size_t i0, size_t i1) { add_span(out + i0, a + i0, b + i0, i1 - i0); });
}

void CpuKernels::add_into(float* dst, const float* src, size_t n) {
  parallel_for(n, kAddGrain, [&](size_t i0, size_t i1) { add_span(dst + i0, dst + i0, src + i0, i1 - i0); });
}

}  // namespace rm
