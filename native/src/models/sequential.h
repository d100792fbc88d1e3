// A sequential network (the mlp and cnn models): a chain of modules (nn/chain.h), each with one
// input and one output, over the model's flat parameters (core/parameters.h). A ReLU after a
// Linear or Conv2d is fused into it (a kernel epilogue), and when a max-pool follows, the pool's
// backward applies the ReLU's derivative; so the chain may be shorter than the config.
// Parameters are named "layers.<config index>.<name>" (a torch.nn.Sequential's names).
//
// Mixed precision (bf16/fp16): every activation and input gradient is rounded as it is stored,
// as on a GPU computing in that type (see precision.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "../core/model.h"
#include "../nn/chain.h"

namespace rm {

struct LayerConfig {
  std::string kind;  // linear | conv2d | relu | gelu | maxpool2d | flatten
  size_t out = 0;    // linear: output features; conv2d: output channels
};

class Sequential final : public Model {
 public:
  // bf16_kernels (bf16 precision, fast kernels): matmuls and convolutions read bf16 copies of
  // their inputs (kernels.h).
  Sequential(const std::vector<LayerConfig>& layers, SampleShape input, size_t max_batch, Impl impl,
             Precision precision = Precision::F32, bool bf16_kernels = false);

  ModelInput input() const override { return {DType::F32, input_shape_.size()}; }
  size_t positions() const override { return 1; }
  size_t classes() const override { return modules_.back()->output_shape().size(); }
  size_t max_batch() const override { return max_batch_; }
  size_t last_batch() const override { return last_batch_; }
  bool bf16_kernels() const override { return bf16_kernels_; }
  Kernels& kernels() const override { return kernels_; }
  void init_params(uint64_t seed) override;
  const float* forward(const void* input, size_t B) override;
  // With options.dinput set, ∂L/∂input[B, input().elements] is written there.
  void backward(const float* dlogits, const BackwardOptions& options) override;
  const std::vector<size_t>& gradient_ready_offsets() const override { return ready_offsets_; }
  // Every Linear, unless the matrix products run on bf16 kernels.
  const std::vector<LinearLayer>& linear_layers() const override { return linear_layers_; }

 private:
  Pass pass(size_t B);
  Kernels& kernels_;
  bool bf16_kernels_;
  std::vector<std::unique_ptr<ChainModule>> modules_;
  std::vector<size_t> param_offsets_;  // per module: where its parameters begin
  std::vector<bool> trainable_;        // per module: whether it has parameters
  std::vector<size_t> ready_offsets_;  // the trainable modules' param_offsets_
  size_t first_trainable_;             // index of the first module with parameters
  SampleShape input_shape_;
  size_t max_batch_;
  std::vector<LinearLayer> linear_layers_;
  Tensor input_;                 // the last forward's input, rounded to the precision
  FloatBuffer grad_scratch_;     // mixed precision (GradientSink)
  FloatBuffer dact_a_, dact_b_;  // ping-pong activation gradients, sized for the largest module
  size_t last_batch_ = 0;        // batch of the last forward; 0 before any
};

}  // namespace rm
