// A sequential network over one contiguous parameter buffer and one contiguous gradient buffer
// (the optimizer and, later, the gradient all-reduce work on these flat buffers).
//
// Activation buffers are allocated once for the largest batch; acts_[0] is the input and
// acts_[i + 1] the output of layer i, kept from forward for backward. With Impl::Fast a ReLU
// that follows a Linear or Conv2d is fused into it, so layers_ may be shorter than the config.
//
// Mixed precision (bf16, fp16): the parameters stay fp32 (the master copy the optimizer
// updates); the layers compute from a copy rounded to the low precision, and every activation,
// activation gradient and parameter-gradient contribution is rounded as it is stored, as on a
// GPU computing in that type (see precision.h).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common.h"
#include "factor_exchange.h"
#include "layers/layer.h"
#include "precision.h"

namespace rm {

struct LayerConfig {
  std::string kind;  // linear | conv2d | relu | gelu | maxpool2d | flatten
  size_t out = 0;    // linear: output features; conv2d: output channels
};

// A parameter tensor of the whole network, e.g. "layers.0.weight", offsets into the flat buffer.
struct NamedParam {
  std::string name;
  std::vector<size_t> shape;
  size_t offset;
  size_t count;
};

class Net {
 public:
  // bf16_kernels (bf16 precision, fast layers): matmuls and convolutions read bf16 copies of
  // their inputs (layers/linear.h).
  Net(const std::vector<LayerConfig>& layers, SampleShape input, size_t max_batch, Impl impl,
      Precision precision = Precision::F32, bool bf16_kernels = false);

  // Draws every layer's parameters from one RNG seeded with `seed`, in layer order.
  void init_params(uint64_t seed);

  // Runs forward on the batch already written to input(); returns output()[B, output_size()].
  const float* forward(size_t B);
  // Called during backward each time the gradients grads()[first, param_count()) are final, with
  // `first` decreasing: what a data-parallel trainer needs to start exchanging them early.
  using GradientsReady = std::function<void(size_t first)>;

  // Backward from dout[B, output_size()] of the last forward; writes ∂L/∂input into dinput when
  // it is not null. Parameter gradients are accumulated or assigned (see layers/layer.h).
  // exchange_factors (collective, see use_factor_exchange): the factored layers' gradients
  // come from the exchange; otherwise every gradient is this rank's own. factor_squares, when
  // set, has Σ g² over this rank's rows of the factored layers added, each summed as soon as
  // its layer is done (still in cache).
  void backward(const float* dout, float* dinput, bool accumulate, const GradientsReady& ready = nullptr,
                bool exchange_factors = false, double* factor_squares = nullptr);

  float* input() { return acts_.front().data(); }
  const float* output() const { return acts_.back().data(); }
  float* params() { return params_; }
  float* grads() { return grads_; }
  // Moves the gradients into caller-owned memory of param_count() floats (e.g. a buffer shared
  // with the other ranks of a data-parallel group); the values move along.
  void use_gradient_buffer(float* external);
  // Reads and updates the parameters in caller-owned memory from now on; the caller fills it.
  void use_parameter_buffer(float* external);
  // Mixed precision: the rounded copy of the parameters the layers compute with (the parameters
  // themselves in fp32). Refresh it over the ranges whose parameters changed.
  Precision precision() const { return precision_; }
  bool bf16_kernels() const { return bf16_kernels_; }
  float* compute_params() { return precision_ == Precision::F32 ? params_ : compute_params_; }
  void refresh_compute_params(const std::vector<Range>& changed);
  void use_compute_parameter_buffer(float* external);
  size_t param_count() const { return param_count_; }
  size_t input_size() const { return input_shape_.size(); }
  size_t output_size() const { return layers_.back()->output_shape().size(); }
  size_t max_batch() const { return max_batch_; }
  size_t last_batch() const { return last_batch_; }  // 0 before the first forward
  std::vector<NamedParam> named_params() const;
  // Where each layer's parameters begin in the flat buffers, ascending (layers without
  // parameters repeat the next offset).
  const std::vector<size_t>& layer_param_offsets() const { return param_offsets_; }

  // The Linear layers whose weight gradients can come from sufficient factors (fast fp32-kernel
  // layers), by index into layer_param_offsets().
  struct FactorableLayer {
    size_t layer;
    FactorShape shape;
  };
  const std::vector<FactorableLayer>& factorable_layers() const { return factorable_; }
  // Data parallel: from now on backward takes the weight gradients of `layers` (entries of
  // factorable_layers(), slot i for layers[i]) from `exchange`; each rank's gradient buffer then
  // holds only the rows it owns of those layers, listed by factored_ranges().
  void use_factor_exchange(FactorExchange* exchange, const std::vector<FactorableLayer>& layers);
  const std::vector<Range>& factored_ranges() const { return factored_ranges_; }

 private:
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<size_t> config_index_;   // per layer, its index in the config (names its params)
  std::vector<size_t> param_offsets_;  // per layer, into params_/grads_
  size_t first_trainable_;             // index of the first layer with parameters
  SampleShape input_shape_;
  size_t max_batch_;
  FloatBuffer own_params_, own_grads_;
  float* params_;  // own_params_ unless use_parameter_buffer() moved them
  float* grads_;   // own_grads_ unless use_gradient_buffer() moved them
  Precision precision_;
  bool bf16_kernels_;
  FloatBuffer own_compute_params_;  // mixed precision: the rounded copy, unless moved
  float* compute_params_ = nullptr;
  FloatBuffer grad_scratch_;        // mixed precision: one backward's gradients, before they are added
  std::vector<FloatBuffer> acts_;
  FloatBuffer dact_a_, dact_b_;  // ping-pong activation gradients, sized for the largest layer
  size_t param_count_ = 0;
  size_t last_batch_ = 0;        // batch of the last forward; 0 before any
  std::vector<FactorableLayer> factorable_;
  FactorExchange* factors_ = nullptr;
  std::vector<int> factor_slot_;        // per layer: its slot in factors_, or -1
  std::vector<Range> factored_ranges_;  // this rank's rows of the factored layers (weight, bias)
  // The parameters of layer k whose gradients backward writes: all, or (factored) the rows
  // this rank owns.
  std::vector<Range> written_gradients(size_t k, bool factored) const;
};

}  // namespace rm
