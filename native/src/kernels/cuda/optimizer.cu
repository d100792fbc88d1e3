// The optimizer's passes on the GPU: AdamW and SGD updates with math.h's formulas (the CPU's),
// the rounded copy written in the same pass; the bf16/fp16 roundings of precision.h; and Σ x²
// for the gradient norm, in a fixed order: a fixed grid of blocks, each reducing its
// grid-stride share in double in a fixed tree, the partials summed on the host in block order.
#include <vector>

#include "../../core/math.h"
#include "cuda_common.cuh"
#include "cuda_kernels.h"

namespace rm {

namespace {

constexpr unsigned kSquareBlocks = 512;

__device__ float rounded(float x, Precision p) {
  return p == Precision::BF16 ? round_to_bf16(x) : p == Precision::F16 ? round_to_fp16(x) : x;
}

__global__ void round_kernel(float* x, size_t n, Precision p) {
  RM_FOR_EACH(i, n) x[i] = rounded(x[i], p);
}

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

__global__ void adamw_kernel(float* p, float* m, float* v, const float* g, float* low, size_t n, float grad_scale,
                             AdamWCoefficients c, Precision low_precision) {
  RM_FOR_EACH(i, n) {
    float pi = p[i], mi = m[i], vi = v[i];
    adamw_update(pi, mi, vi, g[i] * grad_scale, c);
    p[i] = pi;
    m[i] = mi;
    v[i] = vi;
    if (low) low[i] = rounded(pi, low_precision);
  }
}

__global__ void sgd_kernel(float* p, float* b, const float* g, float* low, size_t n, float grad_scale, SgdCoefficients c,
                           Precision low_precision) {
  RM_FOR_EACH(i, n) {
    float pi = p[i], bi = b[i];
    sgd_update(pi, bi, g[i] * grad_scale, c);
    p[i] = pi;
    b[i] = bi;
    if (low) low[i] = rounded(pi, low_precision);
  }
}

}  // namespace

void CudaKernels::round_values(float* x, size_t n, Precision p) {
  if (p == Precision::F32 || n == 0) return;
  round_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(x, n, p);
  RM_CUDA_LAUNCHED("round_values");
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
  if (n == 0) return;
  adamw_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(p, m, v, g, low, n, grad_scale, c, low_precision);
  RM_CUDA_LAUNCHED("adamw_step");
}

void CudaKernels::sgd_step(float* p, float* b, const float* g, float* low, size_t n, float grad_scale, const SgdCoefficients& c,
                           Precision low_precision) {
  if (n == 0) return;
  sgd_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(p, b, g, low, n, grad_scale, c, low_precision);
  RM_CUDA_LAUNCHED("sgd_step");
}

}  // namespace rm
