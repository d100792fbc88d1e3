// Per-element kernels over activations, split across threads: GELU (math.h's formula, with the
// vectorisable exp), ReLU and residual additions.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "../../core/math.h"
#include "../../core/parallel.h"
#include "activation_elements.h"
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
// A product's GELU, taken before the product is stored in its type (as a fused epilogue does):
// pre = x, out = gelu(x), each fp32 or bf16; in fp32 blocks (activation_elements.h).
template <class Out, class Pre>
RM_CLONES void gelu_keep_span(Out* out, Pre* pre, const float* x, size_t n) {
  float g[kBlock];
  for (size_t i0 = 0; i0 < n; i0 += kBlock) {
    size_t m = std::min(kBlock, n - i0);
    for (size_t i = 0; i < m; ++i) g[i] = gelu(x[i0 + i]);
    narrow(out + i0, g, m);
    narrow(pre + i0, x + i0, m);
  }
}
template <class Din, class In>
RM_CLONES void gelu_backward_span(Din* din, const float* dout, const In* in, size_t n) {
  if constexpr (std::is_same<Din, float>::value && std::is_same<In, float>::value) {
    for (size_t i = 0; i < n; ++i) din[i] = dout[i] * gelu_grad(in[i]);
    return;
  }
  float g[kBlock];
  for (size_t i0 = 0; i0 < n; i0 += kBlock) {
    size_t m = std::min(kBlock, n - i0);
    widen(g, in + i0, m);
    for (size_t i = 0; i < m; ++i) g[i] = dout[i0 + i] * gelu_grad(g[i]);
    narrow(din + i0, g, m);
  }
}
RM_CLONES static void relu_span(float* out, const float* in, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = relu(in[i]);
}
RM_CLONES static void relu_backward_span(float* din, const float* dout, const float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) din[i] = dout[i] * relu_grad(out[i]);
}
// out = a + b, each fp32 or bf16 (a residual stream and a branch; a gradient and one joining it).
template <class Out, class A, class B>
RM_CLONES void add_span(Out* out, const A* a, const B* b, size_t n) {
  for (size_t i = 0; i < n; ++i) store(out[i], load(a[i]) + load(b[i]));
}
#undef RM_CLONES

void CpuKernels::gelu_forward(float* out, const float* in, size_t n) {
  parallel_for(n, kGrain, [&](size_t i0, size_t i1) { gelu_span(out + i0, in + i0, i1 - i0); });
}

void CpuKernels::gelu_backward(float* din, const float* dout, const float* in, size_t n) {
  parallel_for(n, kGrain, [&](size_t i0, size_t i1) { gelu_backward_span(din + i0, dout + i0, in + i0, i1 - i0); });
}

// 16-bit activations: the product into fp32 scratch, then one pass writes GELU's input and output in their types.
void CpuKernels::matmul_gelu_forward(View out, View pre, ConstView in, const float* weight, const float* bias, size_t N,
                                     size_t IN, size_t OUT) {
  if (pre.is_f32()) return Kernels::matmul_gelu_forward(out, pre, in, weight, bias, N, IN, OUT);
  float* x = gelu_scratch(N * OUT);
  matmul_forward(x, in, weight, bias, N, IN, OUT, Epilogue::None);
  typed(out, [&](auto* o) {
    typed(pre, [&](auto* k) {
      parallel_for(N * OUT, kGrain, [&](size_t i0, size_t i1) { gelu_keep_span(o + i0, k + i0, x + i0, i1 - i0); });
    });
  });
}

void CpuKernels::matmul_gelu_backward_data(View dpre, ConstView dout, const float* weight, ConstView pre, size_t N,
                                           size_t IN, size_t OUT) {
  if (dpre.is_f32()) return Kernels::matmul_gelu_backward_data(dpre, dout, weight, pre, N, IN, OUT);
  float* g = gelu_scratch(N * IN);
  matmul_backward(g, nullptr, nullptr, dout, nullptr, weight, N, IN, OUT, false);
  typed(dpre, [&](auto* d) {
    typed(pre, [&](auto* k) {
      parallel_for(N * IN, kGrain, [&](size_t i0, size_t i1) { gelu_backward_span(d + i0, g + i0, k + i0, i1 - i0); });
    });
  });
}

float* CpuKernels::gelu_scratch(size_t n) {
  thread_local std::vector<float> scratch;
  if (scratch.size() < n) scratch.resize(n);
  return scratch.data();
}

void CpuKernels::relu_forward(float* out, const float* in, size_t n) {
  parallel_for(n, kGrain, [&](size_t i0, size_t i1) { relu_span(out + i0, in + i0, i1 - i0); });
}

void CpuKernels::relu_backward(float* din, const float* dout, const float* out, size_t n) {
  parallel_for(n, kGrain, [&](size_t i0, size_t i1) { relu_backward_span(din + i0, dout + i0, out + i0, i1 - i0); });
}

void CpuKernels::residual_forward(View out, ConstView a, ConstView b, size_t n) {
  typed(out, [&](auto* o) {
    typed(a, [&](auto* x) {
      typed(b, [&](auto* y) {
        parallel_for(n, kAddGrain, [&](size_t i0, size_t i1) { add_span(o + i0, x + i0, y + i0, i1 - i0); });
      });
    });
  });
}

void CpuKernels::add_into(View dst, ConstView src, size_t n) { residual_forward(dst, dst, src, n); }

}  // namespace rm
