// Conv2d, 3×3 kernel, stride 1, padding 1 (torch.nn.Conv2d(IC, OC, 3, padding=1)): the output's
// height and width equal the input's. Channels-last activations, torch's [OC, IC, 3, 3] weights,
// optionally with a fused ReLU.
#pragma once

#include "chain.h"

namespace rm {

class Conv2dModule final : public ChainModule {
 public:
  Conv2dModule(const Scope& scope, SampleShape in, size_t out_channels, size_t max_batch, FusedRelu relu);
  SampleShape output_shape() const override { return {OC_, H_, W_}; }
  double forward_flops(size_t B) const override { return 2.0 * double(B * H_ * W_) * double(IC_ * 9) * double(OC_); }
  // torch.nn.Conv2d's: weight and bias uniform in ±1/√(IC·9).
  void init(Parameters& params, Rng& rng) const override;
  ConstView forward(const Pass& p, ConstView in) override;
  void backward(const Pass& p, View din, ConstView dout) override;
  ParamSlot weight, bias;

 private:
  std::string name_;
  size_t IC_, OC_, H_, W_;
  FusedRelu relu_;
  const float* in_ = nullptr;
  Tensor out_;     // [B, H, W, OC] at the largest batch
  Tensor masked_;  // FusedRelu::Here: dout through the ReLU's derivative
};

}  // namespace rm
