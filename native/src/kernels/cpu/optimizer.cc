// The optimizer's passes on the CPU: AdamW and SGD updates (math.h's formulas) vectorised and
// split across the compute threads, writing the rounded copy in the same pass; Σ g² and the
// roundings are precision/ and optimizer/'s threaded loops.
#include "../../core/parallel.h"
#include "../../optimizer/optimizer.h"
#include "cpu_kernels.h"

namespace rm {

namespace {

constexpr size_t kGrain = 65536;

// What an update writes besides the parameter: nothing, or its bf16/fp16-rounded copy.
struct NoCopy {
  static void put(float*, size_t, float) {}
};
struct Bf16Copy {
  static void put(float* low, size_t i, float p) { low[i] = round_to_bf16(p); }
};
struct Fp16Copy {
  static void put(float* low, size_t i, float p) { low[i] = round_to_fp16(p); }
};

template <class Copy>
__attribute__((always_inline)) inline void adamw_body(float* p, float* m, float* v, const float* g, float* low, size_t n,
                                                      float grad_scale, const AdamWCoefficients& c) {
  for (size_t i = 0; i < n; ++i) {
    adamw_update(p[i], m[i], v[i], g[i] * grad_scale, c);
    Copy::put(low, i, p[i]);
  }
}

template <class Copy>
__attribute__((always_inline)) inline void sgd_body(float* p, float* b, const float* g, float* low, size_t n, float grad_scale,
                                                    const SgdCoefficients& c) {
  for (size_t i = 0; i < n; ++i) {
    sgd_update(p[i], b[i], g[i] * grad_scale, c);
    Copy::put(low, i, p[i]);
  }
}

#define RM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
RM_CLONES void adamw_f32(float* p, float* m, float* v, const float* g, float* low, size_t n, float s, AdamWCoefficients c) { adamw_body<NoCopy>(p, m, v, g, low, n, s, c); }
RM_CLONES void adamw_bf16(float* p, float* m, float* v, const float* g, float* low, size_t n, float s, AdamWCoefficients c) { adamw_body<Bf16Copy>(p, m, v, g, low, n, s, c); }
RM_CLONES void adamw_fp16(float* p, float* m, float* v, const float* g, float* low, size_t n, float s, AdamWCoefficients c) { adamw_body<Fp16Copy>(p, m, v, g, low, n, s, c); }
RM_CLONES void sgd_f32(float* p, float* b, const float* g, float* low, size_t n, float s, SgdCoefficients c) { sgd_body<NoCopy>(p, b, g, low, n, s, c); }
RM_CLONES void sgd_bf16(float* p, float* b, const float* g, float* low, size_t n, float s, SgdCoefficients c) { sgd_body<Bf16Copy>(p, b, g, low, n, s, c); }
RM_CLONES void sgd_fp16(float* p, float* b, const float* g, float* low, size_t n, float s, SgdCoefficients c) { sgd_body<Fp16Copy>(p, b, g, low, n, s, c); }
#undef RM_CLONES

}  // namespace

void CpuKernels::round_values(float* x, size_t n, Precision p) { rm::round_to(p, x, n); }

double CpuKernels::sum_squares(const float* x, size_t n) { return global_squares(x, n); }

void CpuKernels::adamw_step(float* p, float* m, float* v, const float* g, float* low, size_t n, float grad_scale,
                            const AdamWCoefficients& c, Precision low_precision) {
  Precision copy = low ? low_precision : Precision::F32;
  auto chunk = copy == Precision::BF16 ? adamw_bf16 : copy == Precision::F16 ? adamw_fp16 : adamw_f32;
  parallel_for(n, kGrain, [&](size_t i0, size_t i1) { chunk(p + i0, m + i0, v + i0, g + i0, low ? low + i0 : nullptr, i1 - i0, grad_scale, c); });
}

void CpuKernels::sgd_step(float* p, float* b, const float* g, float* low, size_t n, float grad_scale, const SgdCoefficients& c,
                          Precision low_precision) {
  Precision copy = low ? low_precision : Precision::F32;
  auto chunk = copy == Precision::BF16 ? sgd_bf16 : copy == Precision::F16 ? sgd_fp16 : sgd_f32;
  parallel_for(n, kGrain, [&](size_t i0, size_t i1) { chunk(p + i0, b + i0, g + i0, low ? low + i0 : nullptr, i1 - i0, grad_scale, c); });
}

}  // namespace rm
