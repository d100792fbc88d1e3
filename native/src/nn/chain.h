// The modules of a chain (the mlp and cnn models, models/sequential.h): one input, one output.
//
// Shapes: a sample is (C, H, W), with feature vectors as (F, 1, 1). Activations are stored
// channels-last [B, H, W, C], the layout oneDNN's convolutions run fastest on; Flatten converts
// to PyTorch's (C, H, W) order so Linear weights match torch's layout.
#pragma once

#include <cmath>
#include <cstddef>
#include <initializer_list>

#include "../core/rng.h"
#include "pass.h"

namespace rm {

struct SampleShape {
  size_t c = 1, h = 1, w = 1;
  size_t size() const { return c * h * w; }
};

// A ReLU that a Linear or Conv2d applies to its own output (Epilogue::Relu): its derivative is
// applied in that layer's backward (Here), or, when a max-pool reads the ReLU's output, by the
// pool's backward, which knows which of its inputs were zero (Downstream), sparing a pass.
enum class FusedRelu { None, Here, Downstream };

// torch.nn's default for Linear and Conv2d (kaiming_uniform_ with a = √5, and the bias alike):
// every element of `slots`, in order, uniform in ±1/√fan_in.
inline void init_torch_uniform(Parameters& params, Rng& rng, size_t fan_in, std::initializer_list<ParamSlot> slots) {
  float bound = 1.0f / std::sqrt(float(fan_in));
  for (ParamSlot s : slots)
    for (size_t i = 0; i < s.count; ++i) params.host_values()[s.offset + i] = rng.uniform(-bound, bound);
}

class ChainModule {
 public:
  virtual ~ChainModule() = default;
  virtual SampleShape output_shape() const = 0;
  // Multiply-adds × 2 of one forward over B samples (0 for modules that only move values); a
  // backward costs twice that when it computes the input gradient too.
  virtual double forward_flops(size_t /*B*/) const { return 0.0; }
  // Fills this module's parameters as torch.nn initialises them, drawing from rng in order.
  virtual void init(Parameters& /*params*/, Rng& /*rng*/) const {}
  // The output of p.B samples of `in` (which must stay as it is until backward), owned by the
  // module and rounded to the pass's precision.
  virtual ConstView forward(const Pass& p, ConstView in) = 0;
  // din = ∂L/∂in (skipped when null), rounded; parameter gradients through p.grads.
  virtual void backward(const Pass& p, View din, ConstView dout) = 0;
};

}  // namespace rm
