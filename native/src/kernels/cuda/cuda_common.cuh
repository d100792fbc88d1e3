// What the CUDA kernel files share: the launch of element-wise kernels and launch shapes (the
// cooperative kernels' primitives are warp_primitives.cuh's).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "../../cuda/cuda_check.h"
#include "element_kernels.h"

namespace rm {

constexpr int kThreads = int(elements::kThreads);  // per block

inline unsigned blocks_for(size_t n, int threads = kThreads) { return unsigned((n + threads - 1) / threads); }

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
