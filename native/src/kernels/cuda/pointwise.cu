// Element-wise kernels (ReLU, GELU, residual adds), 2×2 max-pool, flatten and the embeddings:
// their bodies are element_kernels.h's, launched by launch_elements (the token embedding's
// gradient takes a thread per channel, which walks every position).
#include "../../core/math.h"
#include "cuda_common.cuh"
#include "cuda_kernels.h"

namespace rm {

void CudaKernels::relu_forward(float* out, const float* in, size_t n) {
  launch_elements(elements::ReluForward{out, in}, n, stream(), "relu_forward");
}
void CudaKernels::relu_backward(float* din, const float* dout, const float* out, size_t n) {
  launch_elements(elements::ReluBackward{din, dout, out}, n, stream(), "relu_backward");
}
void CudaKernels::gelu_forward(float* out, const float* in, size_t n) {
  launch_elements(elements::GeluForward{out, in}, n, stream(), "gelu_forward");
}
void CudaKernels::gelu_backward(float* din, const float* dout, const float* in, size_t n) {
  launch_elements(elements::GeluBackward{din, dout, in}, n, stream(), "gelu_backward");
}
void CudaKernels::residual_forward(View out, ConstView a, ConstView b, size_t n) {
  launch_elements(elements::Residual{elements_of(out), elements_of(a), elements_of(b)}, n, stream(), "residual_forward");
}
void CudaKernels::add_into(View dst, ConstView src, size_t n) {
  launch_elements(elements::AddInto{elements_of(dst), elements_of(src)}, n, stream(), "add_into");
}

void CudaKernels::maxpool2d_forward(float* out, const float* in, size_t B, size_t H, size_t W, size_t C) {
  launch_elements(elements::MaxpoolForward{out, in, B, H, W, C}, B * (H / 2) * (W / 2) * C, stream(), "maxpool2d_forward");
}
void CudaKernels::maxpool2d_backward(float* din, const float* dout, const float* in, const float* out, size_t B, size_t H,
                                     size_t W, size_t C, bool relu_input) {
  if (H % 2 || W % 2) launch_elements(elements::MaxpoolEdges{din, B, H, W, C}, B * H * W * C, stream(), "maxpool2d_edges");
  launch_elements(elements::MaxpoolBackward{din, dout, in, out, B, H, W, C, relu_input}, B * (H / 2) * (W / 2) * C, stream(),
                  "maxpool2d_backward");
}

void CudaKernels::flatten_forward(float* out, const float* in, size_t B, size_t HW, size_t C) {
  launch_elements(elements::FlattenForward{out, in, B, HW, C}, B * HW * C, stream(), "flatten_forward");
}
void CudaKernels::flatten_backward(float* din, const float* dout, size_t B, size_t HW, size_t C) {
  launch_elements(elements::FlattenBackward{din, dout, B, HW, C}, B * HW * C, stream(), "flatten_backward");
}

void CudaKernels::embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, size_t B,
                                    size_t T, size_t C) {
  launch_elements(elements::EmbeddingForward{out, tokens, wte, wpe, T, C}, B * T * C, stream(), "embedding_forward");
}

void CudaKernels::embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, size_t B,
                                     size_t T, size_t C, size_t V, bool accumulate_wte, bool accumulate_wpe) {
  if (dwte) {
    if (!accumulate_wte) RM_CUDA_CHECK(cudaMemsetAsync(dwte, 0, V * C * sizeof(float), stream()), "zeroing dwte");
    launch_elements(elements::EmbeddingTokenGrad{dwte, dout, tokens, B * T, C}, C, stream(), "embedding_wte");
  }
  if (dwpe) launch_elements(elements::EmbeddingPositionGrad{dwpe, dout, B, T, C, accumulate_wpe}, T * C, stream(), "embedding_wpe");
}

}  // namespace rm
