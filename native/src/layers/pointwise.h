// Element-wise activations: out = f(in), din = dout · f'(·). Shapes unchanged, N = B·C·H·W.
// The per-element math lives in ../math.h; the fast path only splits the loop across threads.
#pragma once

#include "layer.h"

namespace rm {

void relu_forward(float* out, const float* in, size_t N);
void relu_backward(float* din, const float* dout, const float* out, size_t N);

enum class Activation { Relu, Gelu };

class Pointwise : public Layer {
 public:
  Pointwise(SampleShape in, Activation act, Impl impl) : shape_(in), act_(act), impl_(impl) {}
  SampleShape output_shape() const override { return shape_; }
  void forward(float* out, const float* in, const float* params, size_t B) override;
  void backward(float* din, float* dparams, const float* dout, const float* in, const float* out,
                const float* params, size_t B, bool accumulate) override;
  bool preserves_rounding() const override { return act_ == Activation::Relu; }

 private:
  SampleShape shape_;
  Activation act_;
  Impl impl_;
};

}  // namespace rm
