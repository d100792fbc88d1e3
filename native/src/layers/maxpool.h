// MaxPool2d, 2×2 window, stride 2 (torch.nn.MaxPool2d(2)), channels-last:
//   out[B, H/2, W/2, C] = max over the 2×2 window of in[B, H, W, C]
// Backward routes each output gradient to the first window position holding the maximum
// (row-major order within the window), recomputed from in and out, so no index buffer is kept.
// When the input is a ReLU's output (`relu_input`), backward also applies the ReLU's derivative:
// a window whose maximum is 0 passes no gradient on.
#pragma once

#include "layer.h"

namespace rm {

void maxpool2d_forward(float* out, const float* in, size_t B, size_t H, size_t W, size_t C);
void maxpool2d_backward(float* din, const float* dout, const float* in, const float* out, size_t B,
                        size_t H, size_t W, size_t C, bool relu_input = false);

class MaxPool2d : public Layer {
 public:
  MaxPool2d(SampleShape in, Impl impl, bool relu_input = false);
  SampleShape output_shape() const override { return {in_.c, in_.h / 2, in_.w / 2}; }
  void forward(float* out, const float* in, const float* params, size_t B) override;
  void backward(float* din, float* dparams, const float* dout, const float* in, const float* out,
                const float* params, size_t B, bool accumulate) override;
  bool preserves_rounding() const override { return true; }

 private:
  SampleShape in_;
  Impl impl_;
  bool relu_input_;
};

}  // namespace rm
