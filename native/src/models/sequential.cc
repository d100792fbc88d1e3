#include "sequential.h"

#include <algorithm>
#include <cstring>

#include "../nn/activation.h"
#include "../nn/conv2d.h"
#include "../nn/linear.h"
#include "../nn/pooling.h"

namespace rm {

// The ReLU that the Linear or Conv2d at config index i fuses, given the layers after it.
static FusedRelu fused_relu(const std::vector<LayerConfig>& layers, size_t i) {
  bool fuses = i + 1 < layers.size() && layers[i + 1].kind == "relu" &&
               (layers[i].kind == "linear" || layers[i].kind == "conv2d");
  if (!fuses) return FusedRelu::None;
  bool pooled = i + 2 < layers.size() && layers[i + 2].kind == "maxpool2d";
  return pooled ? FusedRelu::Downstream : FusedRelu::Here;
}

// `after`: the ReLU the module before this one fused.
static std::unique_ptr<ChainModule> make_module(const LayerConfig& c, const Scope& scope, SampleShape in,
                                                size_t max_batch, FusedRelu relu, FusedRelu after) {
  bool needs_out = c.kind == "linear" || c.kind == "conv2d";
  RM_CHECK(!needs_out || c.out > 0, "INVALID_ARGUMENT", c.kind + " needs out > 0");
  if (c.kind == "linear") return std::make_unique<LinearModule>(scope, in.size(), c.out, true, max_batch, relu);
  if (c.kind == "conv2d") return std::make_unique<Conv2dModule>(scope, in, c.out, max_batch, relu);
  if (c.kind == "relu") return std::make_unique<ActivationModule>(scope, in, max_batch, Activation::Relu);
  if (c.kind == "gelu") return std::make_unique<ActivationModule>(scope, in, max_batch, Activation::Gelu);
  if (c.kind == "maxpool2d") return std::make_unique<MaxPool2dModule>(scope, in, max_batch, after == FusedRelu::Downstream);
  if (c.kind == "flatten") return std::make_unique<FlattenModule>(scope, in, max_batch);
  throw NativeError("INVALID_ARGUMENT", "unknown layer kind \"" + c.kind + "\"");
}

Sequential::Sequential(const std::vector<LayerConfig>& layers, SampleShape input, size_t max_batch, Impl impl,
                       Precision precision, bool bf16_kernels)
    : kernels_(cpu_kernels(impl, bf16_kernels)), bf16_kernels_(bf16_kernels), input_shape_(input), max_batch_(max_batch) {
  RM_CHECK(!bf16_kernels || precision == Precision::BF16, "INVALID_ARGUMENT", "bf16 kernels need bf16 precision");
  RM_CHECK(!layers.empty(), "INVALID_ARGUMENT", "a network needs at least one layer");
  RM_CHECK(max_batch > 0 && input.size() > 0, "INVALID_ARGUMENT", "batch and input size must be > 0");
  SampleShape shape = input;
  size_t widest = input.size();
  FusedRelu previous = FusedRelu::None;
  for (size_t i = 0; i < layers.size(); ++i) {
    FusedRelu relu = fused_relu(layers, i);
    size_t offset = params_.count();
    Scope scope(params_, "layers." + std::to_string(i) + ".", DecayRule::All);
    modules_.push_back(make_module(layers[i], scope, shape, max_batch, relu, previous));
    param_offsets_.push_back(offset);
    trainable_.push_back(params_.count() > offset);
    if (trainable_.back()) ready_offsets_.push_back(offset);
    if (layers[i].kind == "linear" && !bf16_kernels)
      linear_layers_.push_back(static_cast<const LinearModule&>(*modules_.back()).layer());
    previous = relu;
    if (relu != FusedRelu::None) ++i;  // the ReLU runs inside this module
    shape = modules_.back()->output_shape();
    widest = std::max(widest, shape.size());
  }
  first_trainable_ = size_t(std::find(trainable_.begin(), trainable_.end(), true) - trainable_.begin());
  params_.allocate(precision);
  input_ = Tensor({max_batch, input.size()}, DType::F32);
  dact_a_ = FloatBuffer(max_batch * widest);
  dact_b_ = FloatBuffer(max_batch * widest);
  if (precision != Precision::F32) grad_scratch_ = FloatBuffer(params_.count());
}

void Sequential::init_params(uint64_t seed) {
  Rng rng(seed);
  for (const auto& m : modules_) m->init(params_, rng);
  params_.refresh_compute({Range{0, params_.count()}});
}

Pass Sequential::pass(size_t B) {
  Pass p{kernels_, params_, B, 1, B};
  p.profiler = profiler_;
  return p;
}

const float* Sequential::forward(const void* input, size_t B) {
  RM_CHECK(B > 0 && B <= max_batch_, "INVALID_ARGUMENT",
           "batch " + std::to_string(B) + " is outside [1, " + std::to_string(max_batch_) + "]");
  size_t n = B * input_shape_.size();
  std::memcpy(input_.f32(), input, n * sizeof(float));
  round_to(params_.precision(), input_.f32(), n);
  Pass p = pass(B);
  const float* x = input_.f32();
  for (auto& m : modules_) x = m->forward(p, x);
  last_batch_ = B;
  return x;
}

void Sequential::backward(const float* dlogits, const BackwardOptions& options) {
  RM_CHECK(last_batch_ > 0, "STATE", "backward called before forward");
  GradientSink sink(params_, grad_scratch_.data());
  sink.begin(options.accumulate);
  Pass p = pass(last_batch_);
  p.grads = &sink;
  p.linear_gradients = options.linear_gradients;
  const float* upstream = dlogits;
  for (size_t k = modules_.size(); k-- > 0;) {
    // Below the first module with parameters only the caller can want a gradient: stop there
    // (for an MLP this spares the first Linear's input-gradient matmul).
    bool need_din = options.dinput != nullptr || k > first_trainable_;
    float* din = !need_din ? nullptr
                 : k == 0  ? options.dinput
                           : (upstream == dact_a_.data() ? dact_b_.data() : dact_a_.data());
    modules_[k]->backward(p, din, upstream);
    if (options.ready && trainable_[k]) options.ready(param_offsets_[k]);
    if (!need_din) break;
    upstream = din;
  }
}

}  // namespace rm
