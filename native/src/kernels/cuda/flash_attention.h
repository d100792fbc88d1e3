// The flash attention kernels (flash_attention_kernels.h) behind CudaKernels' attention: taken
// when the products' operands are 16-bit (bf16 or fp16 precision) and the head size is one the
// kernels are built for; the fp32 kernels (attention.cu) otherwise.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "../../precision/precision.h"

namespace rm {

// Whether flash attention runs heads of C / H channels, B·H of them, in `precision`.
bool flash_attention_applies(Precision precision, size_t B, size_t C, size_t H);

// Activations (out, qkv, dqkv, dout) fp32 holding values of the precision, or its encodings.
void flash_attention_forward(cudaStream_t stream, Precision precision, Elements out, float* lse, Elements qkv, size_t B,
                             size_t T, size_t C, size_t H);

// `delta`: B·H·T floats of device scratch.
void flash_attention_backward(cudaStream_t stream, Precision precision, Elements dqkv, float* delta, Elements dout,
                              Elements qkv, Elements out, const float* lse, size_t B, size_t T, size_t C, size_t H);

}  // namespace rm
