// What the CUDA kernel files share: the launch of element-wise kernels (the cooperative kernels'
// primitives and launcher are warp_primitives.cuh's).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "../../cuda/cuda_check.h"
#include "element_kernels.h"

namespace rm {

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
