// A sequential network (the mlp and cnn models): a chain of layers, each with one input and one
// output, over the model's flat parameters (core/parameters.h).
//
// Activation buffers are allocated once for the largest batch; acts_[0] is the input and
// acts_[i + 1] the output of layer i, kept from forward for backward. With Impl::Fast a ReLU
// that follows a Linear or Conv2d is fused into it, so layers_ may be shorter than the config.
//
// Mixed precision (bf16, fp16): the layers compute from the parameters rounded to the low
// precision, and every activation, activation gradient and parameter-gradient contribution is
// rounded as it is stored, as on a GPU computing in that type (see precision.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "../core/model.h"
#include "../layers/layer.h"

namespace rm {

struct LayerConfig {
  std::string kind;  // linear | conv2d | relu | gelu | maxpool2d | flatten
  size_t out = 0;    // linear: output features; conv2d: output channels
};

class Sequential final : public Model {
 public:
  // bf16_kernels (bf16 precision, fast layers): matmuls and convolutions read bf16 copies of
  // their inputs (layers/linear.h). Parameters are named "layers.<config index>.<name>".
  Sequential(const std::vector<LayerConfig>& layers, SampleShape input, size_t max_batch, Impl impl,
             Precision precision = Precision::F32, bool bf16_kernels = false);

  ModelInput input() const override { return {DType::F32, input_shape_.size()}; }
  size_t positions() const override { return 1; }
  size_t classes() const override { return layers_.back()->output_shape().size(); }
  size_t max_batch() const override { return max_batch_; }
  size_t last_batch() const override { return last_batch_; }
  bool bf16_kernels() const override { return bf16_kernels_; }
  Kernels& kernels() const override { return impl_ == Impl::Fast ? cpu_fast_kernels() : cpu_reference_kernels(); }
  void init_params(uint64_t seed) override;
  const float* forward(const void* input, size_t B) override;
  // With options.dinput set, ∂L/∂input[B, input().elements] is written there.
  void backward(const float* dlogits, const BackwardOptions& options) override;
  const std::vector<size_t>& gradient_ready_offsets() const override { return param_offsets_; }

  // The Linear layers whose weight gradients can come from sufficient factors: fast layers on
  // fp32 kernels.
  const std::vector<FactorableLayer>& factorable_layers() const override { return factorable_; }
  void use_factor_exchange(FactorExchange* exchange, const std::vector<FactorableLayer>& layers) override;
  const std::vector<Range>& factored_ranges() const override { return factored_ranges_; }

 private:
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<std::string> names_;     // per layer: "layers.<config index>" (the profiler's names)
  std::vector<size_t> param_offsets_;  // per layer, into the flat buffers
  size_t first_trainable_;             // index of the first layer with parameters
  SampleShape input_shape_;
  size_t max_batch_;
  Impl impl_;
  bool bf16_kernels_;
  FloatBuffer grad_scratch_;  // mixed precision: one backward's gradients, before they are added
  std::vector<FloatBuffer> acts_;
  FloatBuffer dact_a_, dact_b_;  // ping-pong activation gradients, sized for the largest layer
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
