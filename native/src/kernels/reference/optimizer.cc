// The optimizer's passes, one element at a time: math.h's update formulas (the ones every device
// runs), squares summed in double.
#include "../../core/math.h"
#include "reference_kernels.h"

namespace rm {

static float rounded(float x, Precision p) {
  return p == Precision::BF16 ? round_to_bf16(x) : p == Precision::F16 ? round_to_fp16(x) : x;
}

void ReferenceKernels::round_values(float* x, size_t n, Precision p) {
  for (size_t i = 0; i < n; ++i) x[i] = rounded(x[i], p);
}

double ReferenceKernels::sum_squares(const float* x, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += double(x[i]) * x[i];
  return s;
}

void ReferenceKernels::adamw_step(float* p, float* m, float* v, const float* g, float* low, size_t n, float grad_scale,
                                  const AdamWCoefficients& c, Precision low_precision) {
  for (size_t i = 0; i < n; ++i) {
    adamw_update(p[i], m[i], v[i], g[i] * grad_scale, c);
    if (low) low[i] = rounded(p[i], low_precision);
  }
}

void ReferenceKernels::sgd_step(float* p, float* b, const float* g, float* low, size_t n, float grad_scale,
                                const SgdCoefficients& c, Precision low_precision) {
  for (size_t i = 0; i < n; ++i) {
    sgd_update(p[i], b[i], g[i] * grad_scale, c);
    if (low) low[i] = rounded(p[i], low_precision);
  }
}

}  // namespace rm
