// The optimizer's passes on the GPU: AdamW and SGD updates with math.h's formulas (the CPU's),
// the rounded copy written in the same pass, and the bf16/fp16 roundings of precision.h (their
// bodies in element_kernels.h); and Σ x² for the gradient norm, in a fixed order: a fixed grid
// of blocks, each reducing its grid-stride share in double in a fixed tree, the partials summed
// on the host in block order.
#include <vector>

#include "../../core/math.h"
#include "cuda_common.cuh"
#include "cuda_kernels.h"

namespace rm {

namespace {

constexpr unsigned kSquareBlocks = 512;

__global__ void squares_kernel(double* partials, const float* x, size_t n) {
  __shared__ double warps[kThreads / 32];
  double s = 0.0;  // in double, as the CPU's: a large finite gradient must not square to inf
  RM_FOR_EACH(i, n) s += double(x[i]) * x[i];
  for (int offset = 16; offset > 0; offset >>= 1) s += __shfl_xor_sync(kFullWarp, s, offset);
  if (threadIdx.x % 32 == 0) warps[threadIdx.x / 32] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0;
    for (int w = 0; w < kThreads / 32; ++w) total += warps[w];
    partials[blockIdx.x] = total;
  }
}

}  // namespace

void CudaKernels::round_values(float* x, size_t n, Precision p) {
  if (p == Precision::F32 || n == 0) return;
  launch_elements(elements::Round{x, p}, n, stream(), "round_values");
}

double CudaKernels::sum_squares(const float* x, size_t n) {
  if (n == 0) return 0.0;
  auto* partials = reinterpret_cast<double*>(scratch(2, 2 * kSquareBlocks));  // kSquareBlocks doubles
  squares_kernel<<<kSquareBlocks, kThreads, 0, stream()>>>(partials, x, n);
  RM_CUDA_LAUNCHED("sum_squares");
  std::vector<double> host(kSquareBlocks);
  device_.copy_to_host(host.data(), partials, kSquareBlocks * sizeof(double));
  double total = 0;
  for (double s : host) total += s;
  return total;
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
