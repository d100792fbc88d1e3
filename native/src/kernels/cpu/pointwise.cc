// Per-element kernels over activations, split across threads: GELU (math.h's formula, with the
// vectorisable exp; fused after a product, with its derivative kept for backward), ReLU and
// residual additions.
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
// A product's GELU from its fp32 value x (as a fused epilogue takes it): out = gelu(x) and aux =
// gelu'(x), each fp32 or bf16 (a fp32 aux may be x itself).
template <class Out, class Aux>
RM_CLONES void gelu_with_grad_span(Out* out, Aux* aux, const float* x, size_t n) {
  if constexpr (std::is_same<Out, float>::value && std::is_same<Aux, float>::value) {
    for (size_t i = 0; i < n; ++i) {
      float g;
      out[i] = gelu_with_grad(x[i], &g);
      aux[i] = g;
    }
    return;
  }
  float y[kBlock], g[kBlock];
  for (size_t i0 = 0; i0 < n; i0 += kBlock) {
    size_t m = std::min(kBlock, n - i0);
    for (size_t i = 0; i < m; ++i) y[i] = gelu_with_grad(x[i0 + i], &g[i]);
    convert(out + i0, y, m);
    convert(aux + i0, g, m);
  }
}
RM_CLONES static void gelu_backward_span(float* din, const float* dout, const float* in, size_t n) {
  for (size_t i = 0; i < n; ++i) din[i] = dout[i] * gelu_grad(in[i]);
}
// dx = g ⊙ gelu', the derivative kept by gelu_with_grad_span (dx fp32 or bf16; fp32 may be g).
template <class Dx, class Aux>
RM_CLONES void times_grad_span(Dx* dx, const float* g, const Aux* aux, size_t n) {
  store_elements(dx, n, [&](size_t i) { return g[i] * load(aux[i]); });
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

// The product into aux (fp32) or fp32 scratch, then one pass writes gelu and its derivative.
void CpuKernels::matmul_gelu_forward(View out, View aux, ConstView in, const float* weight, const float* bias, size_t N,
                                     size_t IN, size_t OUT) {
  float* x = aux.is_f32() ? aux.f32() : gelu_scratch(N * OUT);
  matmul_forward(x, in, weight, bias, N, IN, OUT, Epilogue::None);
  typed(out, [&](auto* o) {
    typed(aux, [&](auto* a) {
      parallel_for(N * OUT, kGrain, [&](size_t i0, size_t i1) { gelu_with_grad_span(o + i0, a + i0, x + i0, i1 - i0); });
    });
  });
}

void CpuKernels::matmul_gelu_backward_data(View dx, ConstView dout, const float* weight, ConstView aux, size_t N,
                                           size_t IN, size_t OUT) {
  float* g = dx.is_f32() ? dx.f32() : gelu_scratch(N * IN);
  matmul_backward(g, nullptr, nullptr, dout, nullptr, weight, N, IN, OUT, false);
  typed(dx, [&](auto* d) {
    typed(aux, [&](auto* a) {
      parallel_for(N * IN, kGrain, [&](size_t i0, size_t i1) { times_grad_span(d + i0, g + i0, a + i0, i1 - i0); });
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
