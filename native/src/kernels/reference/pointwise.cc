// Reference per-element kernels: GELU (math.h's tanh form), ReLU and residual additions.
#include "../../core/math.h"
#include "reference_kernels.h"

namespace rm {

void ReferenceKernels::gelu_forward(float* out, const float* in, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = gelu(in[i]);
}

void ReferenceKernels::gelu_backward(float* din, const float* dout, const float* in, size_t n) {
  for (size_t i = 0; i < n; ++i) din[i] = dout[i] * gelu_grad(in[i]);
}

void ReferenceKernels::relu_forward(float* out, const float* in, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = relu(in[i]);
}

void ReferenceKernels::relu_backward(float* din, const float* dout, const float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) din[i] = dout[i] * relu_grad(out[i]);
}

void ReferenceKernels::residual_forward(float* out, const float* a, const float* b, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void ReferenceKernels::add_into(float* dst, const float* src, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] += src[i];
}

}  // namespace rm
