// The optimizer's passes on the GPU: AdamW and SGD updates with math.h's formulas (the CPU's),
// the rounded copy written in the same pass, and the bf16/fp16 roundings of precision.h (their
// bodies in element_kernels.h); and Σ x² for the gradient norm in a fixed order
// (sum_squares_kernels.h).
#include <vector>

#include "../../core/math.h"
#include "cuda_common.cuh"
#include "cuda_kernels.h"
#include "warp_primitives.cuh"
// The kernel, written in the primitives above.
#include "sum_squares_kernels.h"

namespace rm {

void CudaKernels::round_values(float* x, size_t n, Precision p) {
  if (p == Precision::F32 || n == 0) return;
  launch_elements(elements::Round{x, p}, n, stream(), "round_values");
}

double CudaKernels::sum_squares(const float* x, size_t n) {
  if (n == 0) return 0.0;
  auto* partials = reinterpret_cast<double*>(scratch(2, 2 * squares::kBlocks));  // kBlocks doubles
  squares::partials(StreamLaunch{stream(), "sum_squares"}, partials, x, n);
  std::vector<double> host(squares::kBlocks);
  device_.copy_to_host(host.data(), partials, squares::kBlocks * sizeof(double));
  return squares::sum_partials(host.data());
}

void CudaKernels::adamw_step(float* p, float* m, float* v, const float* g, float* low, size_t n, float grad_scale,
                             const AdamWCoefficients& c, Precision low_precision) {
  launch_elements(elements::AdamWStep{p, m, v, g, low, grad_scale, c, low_precision}, n, stream(), "adamw_step");
}

void CudaKernels::sgd_step(float* p, float* b, const float* g, float* low, size_t n, float grad_scale, const SgdCoefficients& c,
                           Precision low_precision) {
  launch_elements(elements::SgdStep{p, b, g, low, grad_scale, c, low_precision}, n, stream(), "sgd_step");
}

}  // namespace rm
