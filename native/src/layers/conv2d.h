// Conv2d, 3×3 kernel, stride 1, padding 1 (output H×W equals input H×W):
//   out[B, H, W, OC] = Σ_{ic,kh,kw} in[B, H+kh−1, W+kw−1, IC] · weight[OC, IC, kh, kw] + bias[OC]
// Activations channels-last; weights in torch.nn.Conv2d's [OC, IC, KH, KW] layout.
// With Epilogue::Relu, out = relu(…) in the same convolution.
#pragma once

#include <map>
#include <memory>

#include "layer.h"

namespace rm {

void conv2d_forward_reference(float* out, const float* in, const float* weight, const float* bias,
                              size_t B, size_t H, size_t W, size_t IC, size_t OC);
void conv2d_backward_reference(float* din, float* dweight, float* dbias, const float* dout,
                               const float* in, const float* weight, size_t B, size_t H,
                               size_t W, size_t IC, size_t OC, bool accumulate);

class Conv2d : public Layer {
 public:
  Conv2d(SampleShape in, size_t out_channels, Impl impl, Epilogue epilogue = Epilogue::None,
         bool bf16_kernels = false);
  ~Conv2d() override;
  SampleShape output_shape() const override { return {OC_, H_, W_}; }
  std::vector<ParamTensor> params() const override;
  void init_params(float* params, Rng& rng) const override;
  double forward_flops(size_t B) const override { return 2.0 * double(B * H_ * W_) * double(IC_ * K * K) * double(OC_); }
  void forward(float* out, const float* in, const float* params, size_t B) override;
  void backward(float* din, float* dparams, const float* dout, const float* in, const float* out,
                const float* params, size_t B, bool accumulate) override;

  static constexpr size_t K = 3;

 private:
  struct Primitives;  // oneDNN convolutions and weight reorders for one batch size
  Primitives& primitives(size_t B);

  size_t IC_, OC_, H_, W_;
  Impl impl_;
  Epilogue epilogue_;
  bool bf16_;  // bf16 kernels: see Linear
  std::map<size_t, std::unique_ptr<Primitives>> cache_;
};

}  // namespace rm
