// Turning CUDA runtime failures into NativeErrors that name the call and the reason, so a cuda
// job fails in one line ("cudaMalloc of 2.0 GiB on cuda:0: out of memory") instead of crashing.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "../core/common.h"

namespace rm {

// CUDA_UNAVAILABLE: no driver or no device (the machine cannot run cuda jobs at all);
// OUT_OF_MEMORY; CUDA_ERROR for everything else (a kernel fault, an illegal address).
[[noreturn]] void throw_cuda_error(cudaError_t status, const std::string& what);

#define RM_CUDA_CHECK(call, what)                                   \
  do {                                                              \
    cudaError_t rm_status_ = (call);                                \
    if (rm_status_ != cudaSuccess) ::rm::throw_cuda_error(rm_status_, what); \
  } while (0)

// After a kernel launch: a bad launch configuration shows here, a fault in the kernel at the
// next synchronising call.
#define RM_CUDA_LAUNCHED(name) RM_CUDA_CHECK(cudaGetLastError(), std::string("launching ") + (name))

}  // namespace rm
