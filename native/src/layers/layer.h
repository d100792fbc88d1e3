// The layer interface every model is built from.
//
// Shapes: B is the batch; a sample is (C, H, W), with fully connected activations as (F, 1, 1).
// Activations are stored channels-last (B, H, W, C), the layout oneDNN's convolutions run fastest
// on; Flatten converts to PyTorch's (C, H, W) order so Linear weights match torch's layout.
//
// Gradient rule: activation gradients (din) are assigned (=); parameter gradients (dparams) are
// accumulated (+=) when `accumulate` is true and assigned otherwise, which spares a zeroing pass
// over the gradient buffer on the first micro-batch of a step.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "../core/rng.h"

namespace rm {

struct SampleShape {
  size_t c = 1, h = 1, w = 1;
  size_t size() const { return c * h * w; }
};

// Which implementation a layer runs: the fast one (oneDNN, threaded, vectorised) or the
// plain-loop reference that tests use as the oracle.
enum class Impl { Fast, Reference };

// An activation a matmul or convolution applies to its own output (a oneDNN post-op), sparing
// a separate pass over the activations. Only the fast implementations fuse; the model decides.
// ReluMaskedDownstream is a ReLU whose derivative the next layer applies in its own backward
// (a max-pool routing gradients, which knows which of its inputs were zero), sparing the
// masking pass too.
enum class Epilogue { None, Relu, ReluMaskedDownstream };

// A named slice of a layer's parameters, in PyTorch's layout (e.g. weight [OUT, IN]).
struct ParamTensor {
  std::string name;              // "weight" or "bias"
  std::vector<size_t> shape;
  size_t offset;                 // in floats, from the start of the layer's parameters
};

class Layer {
 public:
  virtual ~Layer() = default;
  virtual SampleShape output_shape() const = 0;
  virtual std::vector<ParamTensor> params() const { return {}; }
  size_t param_count() const;

  // True when every output, and every input gradient, is one of the layer's inputs (or dout's
  // elements) moved, or zero: values already rounded to a storage precision stay rounded, so
  // the model skips rounding them again.
  virtual bool preserves_rounding() const { return false; }

  // Multiply-adds × 2 of one forward over B samples (0 for layers that only move values); a
  // backward costs twice that (the input and the parameter gradients).
  virtual double forward_flops(size_t /*B*/) const { return 0.0; }

  // Fills this layer's parameters as torch.nn initialises them, drawing from rng in order.
  virtual void init_params(float* /*params*/, Rng& /*rng*/) const {}

  // out[B, out] = layer(in[B, in]; params)
  virtual void forward(float* out, const float* in, const float* params, size_t B) = 0;

  // din[B, in] = ∂L/∂in (skipped when din is null); dparams (+)= ∂L/∂params.
  // `in` and `out` are the tensors of the matching forward call.
  virtual void backward(float* din, float* dparams, const float* dout, const float* in,
                        const float* out, const float* params, size_t B, bool accumulate) = 0;
};

}  // namespace rm
