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

void ReferenceKernels::residual_forward(View out_v, ConstView a_v, ConstView b_v, size_t n) {
  float* out = out_v.f32();
  const float* a = a_v.f32();
  const float* b = b_v.f32();
  for (size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void ReferenceKernels::add_into(View dst_v, ConstView src_v, size_t n) {
  float* dst = dst_v.f32();
  const float* src = src_v.f32();
  for (size_t i = 0; i < n; ++i) dst[i] += src[i];
}

}  // namespace rm
