// Element-wise activations of a chain: ReLU (which keeps rounded values rounded) and GELU.
#pragma once

#include "chain.h"

namespace rm {

enum class Activation { Relu, Gelu };

class ActivationModule final : public ChainModule {
 public:
  ActivationModule(const Scope& scope, SampleShape in, size_t max_batch, Activation act);
  SampleShape output_shape() const override { return shape_; }
  ConstView forward(const Pass& p, ConstView in) override;
  void backward(const Pass& p, View din, ConstView dout) override;

 private:
  std::string name_;
  SampleShape shape_;
  Activation act_;
  const float* in_ = nullptr;
  Tensor out_;
};

}  // namespace rm
