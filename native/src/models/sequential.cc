#include "sequential.h"

#include <algorithm>
#include <cstring>

#include "../nn/activation.h"
#include "../nn/conv2d.h"
#include "../nn/linear.h"
#include "../nn/pooling.h"

namespace rm {

// The ReLU that the Linear or Conv2d at config index i fuses, given the layers after it up to
// config index `end` (a stage fuses only its own layers).
static FusedRelu fused_relu(const std::vector<LayerConfig>& layers, size_t i, size_t end) {
  bool fuses = i + 1 < end && layers[i + 1].kind == "relu" && (layers[i].kind == "linear" || layers[i].kind == "conv2d");
  if (!fuses) return FusedRelu::None;
  bool pooled = i + 2 < end && layers[i + 2].kind == "maxpool2d";
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

// The chains keep fp32 activations (rounded to the precision): their ReLU, pooling and
// convolution kernels and the sufficient factors take fp32.
static Scope layer_scope(Parameters& params, size_t index, bool reuse, Device& device) {
  return Scope(params, "layers." + std::to_string(index) + ".", DecayRule::All, device, DType::F32, reuse);
}

Sequential::Sequential(const std::vector<LayerConfig>& layers, SampleShape input, size_t max_batch, KernelChoice kernels,
                       Precision precision, Device& device, SequentialPart part, size_t slots)
    : kernels_(kernels.kernels),
      bf16_kernels_(kernels.bf16_matmuls),
      device_(device),
      part_(part),
      layer_count_(layers.size()),
      input_shape_(input),
      max_batch_(max_batch) {
  RM_CHECK(!bf16_kernels_ || precision == Precision::BF16, "INVALID_ARGUMENT", "bf16 kernels need bf16 precision");
  RM_CHECK(!layers.empty(), "INVALID_ARGUMENT", "a network needs at least one layer");
  RM_CHECK(max_batch > 0 && input.size() > 0 && slots > 0, "INVALID_ARGUMENT", "batch and input size must be > 0");
  if (part_.end_layer == 0) part_.end_layer = layers.size();
  RM_CHECK(part_.first_layer < part_.end_layer && part_.end_layer <= layers.size(), "INVALID_ARGUMENT",
           "a stage's layers [" + std::to_string(part_.first_layer) + ", " + std::to_string(part_.end_layer) + ") are not layers of a " +
               std::to_string(layers.size()) + "-layer network");
  // Plan the whole chain. The other stages' modules are built in scratch parameters (at batch
  // 1) only to learn their shapes and how many values their initialisation draws.
  Parameters scratch;
  SampleShape shape = input;
  FusedRelu previous = FusedRelu::None;
  for (size_t i = 0; i < layers.size(); ++i) {
    bool here = i >= part_.first_layer && i < part_.end_layer;
    if (i == part_.first_layer) stage_input_ = shape, previous = FusedRelu::None;
    // A layer fuses the ReLU after it only within its own stage.
    size_t end = here ? part_.end_layer : i < part_.first_layer ? part_.first_layer : layers.size();
    FusedRelu relu = fused_relu(layers, i, end);
    size_t before = scratch.count();
    SampleShape out = make_module(layers[i], layer_scope(scratch, i, false, cpu_device()), shape, 1, relu, previous)->output_shape();
    plan_.push_back({i, relu, previous, shape, here, scratch.count() - before});
    previous = relu;
    if (relu != FusedRelu::None) ++i;  // the ReLU runs inside this module
    shape = out;
  }
  sets_.push_back(make_activations(layers, false));
  params_.allocate(precision, device);
  for (size_t s = 1; s < slots; ++s) sets_.push_back(make_activations(layers, true));
  size_t widest = stage_input_.size();
  for (const auto& m : modules()) widest = std::max(widest, m->output_shape().size());
  dact_a_ = Tensor({max_batch * widest}, DType::F32, device);
  dact_b_ = Tensor({max_batch * widest}, DType::F32, device);
  if (precision != Precision::F32) grad_scratch_ = Tensor({params_.count()}, DType::F32, device);
}

Sequential::Activations Sequential::make_activations(const std::vector<LayerConfig>& layers, bool reuse) {
  Activations a;
  for (const Planned& m : plan_) {
    if (!m.here) continue;
    size_t offset = params_.count();
    a.modules.push_back(make_module(layers[m.index], layer_scope(params_, m.index, reuse, device_), m.in, max_batch_, m.relu, m.after));
    if (reuse) continue;
    param_offsets_.push_back(offset);
    trainable_.push_back(params_.count() > offset);
    if (trainable_.back()) ready_offsets_.push_back(offset);
    if (layers[m.index].kind == "linear" && !bf16_kernels_)
      linear_layers_.push_back(static_cast<const LinearModule&>(*a.modules.back()).layer());
  }
  if (!reuse) first_trainable_ = size_t(std::find(trainable_.begin(), trainable_.end(), true) - trainable_.begin());
  a.input = Tensor({max_batch_, stage_input_.size()}, DType::F32, device_);
  return a;
}

void Sequential::select(size_t chunk, size_t slot) {
  RM_CHECK(chunk == 0 && slot < sets_.size(), "INTERNAL", "activation set " + std::to_string(slot) + " of " + std::to_string(sets_.size()));
  slot_ = slot;
}

void Sequential::init_params(uint64_t seed) {
  Rng rng(seed);
  size_t k = 0;
  for (const Planned& m : plan_) {
    if (m.here) modules()[k++]->init(params_, rng);
    else rng.skip_uniforms(m.draws);
  }
  params_.upload_host_values();
  params_.refresh_compute({Range{0, params_.count()}}, kernels_);
}

Pass Sequential::pass(size_t B) {
  Pass p{kernels_, params_, B, 1, B};
  p.profiler = profiler_;
  return p;
}

ConstView Sequential::forward(const void* input, size_t B) {
  RM_CHECK(B > 0 && B <= max_batch_, "INVALID_ARGUMENT",
           "batch " + std::to_string(B) + " is outside [1, " + std::to_string(max_batch_) + "]");
  Activations& a = sets_[slot_];
  size_t n = B * stage_input_.size();
  if (first_stage()) device_.copy_from_host(a.input.f32(), input, n * sizeof(float));
  else device_.copy(a.input.f32(), input, n * sizeof(float));  // the previous stage's output, on this device
  kernels_.round_values(a.input.f32(), n, params_.precision());
  Pass p = pass(B);
  ConstView x = a.input.f32();
  for (auto& m : a.modules) x = m->forward(p, x);
  a.batch = B;
  return x;
}

void Sequential::backward(ConstView dlogits, const BackwardOptions& options) {
  Activations& a = sets_[slot_];
  RM_CHECK(a.batch > 0, "STATE", "backward called before forward");
  GradientSink sink(params_, grad_scratch_.defined() ? grad_scratch_.f32() : nullptr, kernels_);
  sink.begin(options.accumulate);
  Pass p = pass(a.batch);
  p.grads = &sink;
  p.linear_gradients = options.linear_gradients;
  const float* upstream = dlogits.f32();
  for (size_t k = a.modules.size(); k-- > 0;) {
    // Below the first module with parameters only the caller can want a gradient: stop there
    // (for an MLP this spares the first Linear's input-gradient matmul).
    bool need_din = options.dinput != nullptr || k > first_trainable_;
    float* din = !need_din ? nullptr
                 : k == 0  ? options.dinput
                           : (upstream == dact_a_.f32() ? dact_b_.f32() : dact_a_.f32());
    a.modules[k]->backward(p, din, upstream);
    if (options.ready && trainable_[k]) options.ready(param_offsets_[k]);
    if (!need_din) break;
    upstream = din;
  }
}

}  // namespace rm
