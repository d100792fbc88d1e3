// What the CUDA kernel files share: the launch of element-wise kernels, launch shapes and warp
// reductions.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "../../cuda/cuda_check.h"
#include "element_kernels.h"

namespace rm {

constexpr unsigned kFullWarp = 0xffffffffu;
constexpr int kThreads = int(elements::kThreads);  // per block

inline unsigned blocks_for(size_t n, int threads = kThreads) { return unsigned((n + threads - 1) / threads); }

__device__ __forceinline__ float warp_sum(float x) {
  for (int offset = 16; offset > 0; offset >>= 1) x += __shfl_xor_sync(kFullWarp, x, offset);
  return x;
}

__device__ __forceinline__ float warp_max(float x) {
  for (int offset = 16; offset > 0; offset >>= 1) x = fmaxf(x, __shfl_xor_sync(kFullWarp, x, offset));
  return x;
}

// A grid-stride loop over [0, n), for kernels whose threads also cooperate.
#define RM_FOR_EACH(i, n) for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < (n); i += size_t(gridDim.x) * blockDim.x)

template <class Body>
__global__ void element_kernel(Body body, size_t n) {
  elements::grid_stride(body, n, blockIdx.x, blockDim.x, threadIdx.x, gridDim.x);
}

/** Runs body(i) for every i in [0, n) on `stream` (element_kernels.h: the bodies and the mapping). */
template <class Body>
void launch_elements(const Body& body, size_t n, cudaStream_t stream, const char* what) {
  if (n == 0) return;
  elements::LaunchShape shape = elements::launch_shape(n);
  element_kernel<<<shape.blocks, shape.threads, 0, stream>>>(body, n);
  RM_CUDA_LAUNCHED(what);
}

}  // namespace rm
