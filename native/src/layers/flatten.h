// Flatten: channels-last in[B, H, W, C] → out[B, C·H·W] in torch's (C, H, W) order, so the next
// Linear's weight columns line up with a torch model's. For C = 1 or H = W = 1 it is a copy.
#pragma once

#include "layer.h"

namespace rm {

class Flatten : public Layer {
 public:
  Flatten(SampleShape in, Impl impl) : in_(in), impl_(impl) {}
  SampleShape output_shape() const override { return {in_.size(), 1, 1}; }
  void forward(float* out, const float* in, const float* params, size_t B) override;
  void backward(float* din, float* dparams, const float* dout, const float* in, const float* out,
                const float* params, size_t B, bool accumulate) override;
  bool preserves_rounding() const override { return true; }

 private:
  SampleShape in_;
  Impl impl_;
};

}  // namespace rm
