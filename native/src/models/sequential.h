// A sequential network (the mlp and cnn models): a chain of modules (nn/chain.h), each with one
// input and one output, over the model's flat parameters (core/parameters.h). A ReLU after a
// Linear or Conv2d is fused into it (a kernel epilogue), and when a max-pool follows, the pool's
// backward applies the ReLU's derivative; so the chain may be shorter than the config.
// Parameters are named "layers.<config index>.<name>" (a torch.nn.Sequential's names).
//
// A pipeline stage is a run of the config's layers [first, end) (SequentialPart): it takes the
// previous stage's output as its input and hands its own to the next; ReLUs fuse only within a
// stage. Each stage keeps `slots` activation sets, one per micro-batch in flight, and draws the
// whole chain's initialisation sequence, keeping its own layers' values, so the stages start as
// one model would.
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

struct SequentialPart {
  size_t first_layer = 0, end_layer = 0;  // config indices [first, end); end 0: to the last
};

class Sequential final : public Model {
 public:
  // Built on `device` with the kernels chosen for it (kernels.h: with bf16 matmuls, matmuls and
  // convolutions read bf16 copies of their inputs).
  Sequential(const std::vector<LayerConfig>& layers, SampleShape input, size_t max_batch, KernelChoice kernels,
             Precision precision = Precision::F32, Device& device = cpu_device(), SequentialPart part = {}, size_t slots = 1);

  ModelInput input() const override { return {DType::F32, input_shape_.size()}; }
  size_t positions() const override { return 1; }
  size_t classes() const override { return modules().back()->output_shape().size(); }
  size_t max_batch() const override { return max_batch_; }
  size_t last_batch() const override { return sets_[slot_].batch; }
  bool bf16_kernels() const override { return bf16_kernels_; }
  Kernels& kernels() const override { return kernels_; }
  void init_params(uint64_t seed) override;
  ConstView forward(const void* input, size_t B) override;
  // With options.dinput set, ∂L/∂input[B, input().elements] is written there.
  void backward(ConstView dlogits, const BackwardOptions& options) override;
  const std::vector<size_t>& gradient_ready_offsets() const override { return ready_offsets_; }
  // Every Linear, unless the matrix products run on bf16 kernels.
  const std::vector<LinearLayer>& linear_layers() const override { return linear_layers_; }
  bool first_stage() const override { return part_.first_layer == 0; }
  bool last_stage() const override { return part_.end_layer == layer_count_; }
  size_t stage_input() const override { return stage_input_.size(); }
  size_t stage_output() const override { return classes(); }
  size_t slots() const override { return sets_.size(); }
  void select(size_t chunk, size_t slot) override;

 private:
  // One module of the whole chain: where it comes from, and (another stage's) how many values
  // its initialisation draws.
  struct Planned {
    size_t index;  // in the config
    FusedRelu relu, after;
    SampleShape in;
    bool here;     // this stage builds it
    size_t draws;  // another stage's: its parameters' count
  };
  // One micro-batch's activations: the modules that keep them, and the input they read.
  struct Activations {
    std::vector<std::unique_ptr<ChainModule>> modules;
    Tensor input;      // the last forward's input, rounded to the precision
    size_t batch = 0;  // of the last forward; 0 before any
  };
  const std::vector<std::unique_ptr<ChainModule>>& modules() const { return sets_[0].modules; }
  Activations make_activations(const std::vector<LayerConfig>& layers, bool reuse);
  Pass pass(size_t B);
  Kernels& kernels_;
  bool bf16_kernels_;
  Device& device_;
  SequentialPart part_;
  size_t layer_count_;
  std::vector<Planned> plan_;  // the whole chain, in order
  std::vector<Activations> sets_;
  size_t slot_ = 0;
  std::vector<size_t> param_offsets_;  // per module: where its parameters begin
  std::vector<bool> trainable_;        // per module: whether it has parameters
  std::vector<size_t> ready_offsets_;  // the trainable modules' param_offsets_
  size_t first_trainable_;             // index of the first module with parameters
  SampleShape input_shape_;      // the job's sample
  SampleShape stage_input_;      // what this stage's first module takes
  size_t max_batch_;
  std::vector<LinearLayer> linear_layers_;
  Tensor grad_scratch_;     // mixed precision (GradientSink)
  Tensor dact_a_, dact_b_;  // ping-pong activation gradients, sized for the largest module
};

}  // namespace rm
