// Causal attention on the GPU: attention_kernels.h's fp32 kernels, or (bf16 and fp16 precision,
// where the head size allows) the tensor-core kernels of flash_attention.h.
#include "cuda_kernels.h"
#include "flash_attention.h"
#include "warp_primitives.cuh"
// The kernels, written in the primitives above.
#include "attention_kernels.h"

namespace rm {

void CudaKernels::attention_forward(View out_v, float* lse, ConstView qkv_v, size_t B, size_t T, size_t C, size_t H) {
  float* out = out_v.f32();
  const float* qkv = qkv_v.f32();
  if (flash_attention_applies(gemm_inputs_, B, C, H)) return flash_attention_forward(stream(), gemm_inputs_, out, lse, qkv, B, T, C, H);
  attention::forward(StreamLaunch{stream(), "attention_forward"}, out, lse, qkv, B, T, C, H);
}

void CudaKernels::attention_backward(View dqkv_v, ConstView dout_v, ConstView qkv_v, ConstView out_v, const float* lse,
                                     size_t B, size_t T, size_t C, size_t H) {
  float* dqkv = dqkv_v.f32();
  const float* dout = dout_v.f32();
  const float* qkv = qkv_v.f32();
  const float* out = out_v.f32();
  size_t rows = B * H * T;
  if (flash_attention_applies(gemm_inputs_, B, C, H))
    return flash_attention_backward(stream(), gemm_inputs_, dqkv, scratch(2, rows), dout, qkv, out, lse, B, T, C, H);
  attention::backward(StreamLaunch{stream(), "attention_backward"}, dqkv, scratch(2, rows), dout, qkv, out, lse, B, T, C, H);
}

void CudaKernels::attention_step(float* out, const float* q, const float* k, const float* v, size_t t, size_t C,
                                 size_t H) {
  attention::step(StreamLaunch{stream(), "attention_step"}, out, q, k, v, t, C, H);
}

}  // namespace rm
