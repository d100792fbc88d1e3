// The chain's modules that only move values, so what was rounded stays rounded and they never
// round again: MaxPool2d (2×2, stride 2) and Flatten (channels-last to torch's (C, H, W) order).
#pragma once

#include "chain.h"

namespace rm {

class MaxPool2dModule final : public ChainModule {
 public:
  // relu_input: the input is a FusedRelu::Downstream output, whose derivative backward applies.
  MaxPool2dModule(const Scope& scope, SampleShape in, size_t max_batch, bool relu_input);
  SampleShape output_shape() const override { return {in_.c, in_.h / 2, in_.w / 2}; }
  ConstView forward(const Pass& p, ConstView in) override;
  void backward(const Pass& p, View din, ConstView dout) override;

 private:
  std::string name_;
  SampleShape in_;
  bool relu_input_;
  const float* input_ = nullptr;
  Tensor out_;
};

class FlattenModule final : public ChainModule {
 public:
  FlattenModule(const Scope& scope, SampleShape in, size_t max_batch);
  SampleShape output_shape() const override { return {in_.size(), 1, 1}; }
  ConstView forward(const Pass& p, ConstView in) override;
  void backward(const Pass& p, View din, ConstView dout) override;

 private:
  std::string name_;
  SampleShape in_;
  Tensor out_;
};

}  // namespace rm
