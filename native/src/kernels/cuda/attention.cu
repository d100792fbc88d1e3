// Causal attention on the GPU: attention_kernels.h's fp32 kernels, or (bf16 and fp16 precision,
// where the head size allows) the tensor-core kernels of flash_attention.h.
#include "cuda_kernels.h"
#include "flash_attention.h"
#include "warp_primitives.cuh"
// The kernels, written in the primitives above.
#include "attention_kernels.h"

namespace rm {

// The fp32 kernels take fp32 activations: 16-bit ones (a head size flash attention does not take)
// go through fp32 copies in scratch.
void CudaKernels::attention_forward(View out, float* lse, ConstView qkv, size_t B, size_t T, size_t C, size_t H) {
  if (flash_attention_applies(gemm_inputs_, B, C, H))
    return flash_attention_forward(stream(), gemm_inputs_, elements_of(out), lse, elements_of(qkv), B, T, C, H);
  size_t rows = B * T;
  const float* x = fp32_of(3, qkv, rows * 3 * C);
  float* y = out.is_f32() ? out.f32() : scratch(4, rows * C);
  attention::forward(StreamLaunch{stream(), "attention_forward"}, y, lse, x, B, T, C, H);
  if (!out.is_f32()) convert(elements_of(out), y, rows * C);
}

void CudaKernels::attention_backward(View dqkv, ConstView dout, ConstView qkv, ConstView out, const float* lse, size_t B,
                                     size_t T, size_t C, size_t H) {
  size_t heads = B * H * T, rows = B * T;
  if (flash_attention_applies(gemm_inputs_, B, C, H))
    return flash_attention_backward(stream(), gemm_inputs_, elements_of(dqkv), scratch(2, heads), elements_of(dout), elements_of(qkv),
                                    elements_of(out), lse, B, T, C, H);
  const float *x = fp32_of(3, qkv, rows * 3 * C), *y = fp32_of(4, out, rows * C), *dy = fp32_of(5, dout, rows * C);
  float* dx = dqkv.is_f32() ? dqkv.f32() : scratch(6, rows * 3 * C);
  attention::backward(StreamLaunch{stream(), "attention_backward"}, dx, scratch(2, heads), dy, x, y, lse, B, T, C, H);
  if (!dqkv.is_f32()) convert(elements_of(dqkv), dx, rows * 3 * C);
}

void CudaKernels::attention_step(float* out, const float* q, const float* k, const float* v, size_t t, size_t C,
                                 size_t H) {
  attention::step(StreamLaunch{stream(), "attention_step"}, out, q, k, v, t, C, H);
}

}  // namespace rm
