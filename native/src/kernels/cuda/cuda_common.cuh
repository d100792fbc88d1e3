// What the CUDA kernel files share: launch shapes and warp reductions.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "../../cuda/cuda_check.h"

namespace rm {

constexpr unsigned kFullWarp = 0xffffffffu;
constexpr int kThreads = 256;  // per block, for element-wise kernels

inline unsigned blocks_for(size_t n, int threads = kThreads) { return unsigned((n + threads - 1) / threads); }

__device__ __forceinline__ float warp_sum(float x) {
  for (int offset = 16; offset > 0; offset >>= 1) x += __shfl_xor_sync(kFullWarp, x, offset);
  return x;
}

__device__ __forceinline__ float warp_max(float x) {
  for (int offset = 16; offset > 0; offset >>= 1) x = fmaxf(x, __shfl_xor_sync(kFullWarp, x, offset));
  return x;
}

// A grid-stride loop over [0, n).
#define RM_FOR_EACH(i, n) for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < (n); i += size_t(gridDim.x) * blockDim.x)

}  // namespace rm
