#include "sequential.h"

#include <algorithm>
#include <cstring>

#include "../layers/conv2d.h"
#include "../layers/flatten.h"
#include "../layers/linear.h"
#include "../layers/maxpool.h"
#include "../layers/pointwise.h"
#include "../optimizer/optimizer.h"

namespace rm {

// `epilogue` is the activation this layer fuses; `after` is the one the layer before it fused.
static std::unique_ptr<Layer> make_layer(const LayerConfig& c, SampleShape in, Impl impl, Epilogue epilogue, Epilogue after,
                                         bool bf16_kernels) {
  bool needs_out = c.kind == "linear" || c.kind == "conv2d";
  RM_CHECK(!needs_out || c.out > 0, "INVALID_ARGUMENT", c.kind + " needs out > 0");
  if (c.kind == "linear") return std::make_unique<Linear>(in, c.out, impl, epilogue, bf16_kernels);
  if (c.kind == "conv2d") return std::make_unique<Conv2d>(in, c.out, impl, epilogue, bf16_kernels);
  if (c.kind == "relu") return std::make_unique<Pointwise>(in, Activation::Relu, impl);
  if (c.kind == "gelu") return std::make_unique<Pointwise>(in, Activation::Gelu, impl);
  if (c.kind == "maxpool2d") return std::make_unique<MaxPool2d>(in, impl, after == Epilogue::ReluMaskedDownstream);
  if (c.kind == "flatten") return std::make_unique<Flatten>(in, impl);
  throw NativeError("INVALID_ARGUMENT", "unknown layer kind \"" + c.kind + "\"");
}

// The fast path folds a ReLU into the Linear or Conv2d before it (a oneDNN post-op); when a
// max-pool reads the ReLU's output, the pool's backward applies the ReLU's derivative as well.
static Epilogue fused_epilogue(const std::vector<LayerConfig>& layers, size_t i, Impl impl) {
  bool fuses = impl == Impl::Fast && i + 1 < layers.size() && layers[i + 1].kind == "relu" &&
               (layers[i].kind == "linear" || layers[i].kind == "conv2d");
  if (!fuses) return Epilogue::None;
  bool pooled = i + 2 < layers.size() && layers[i + 2].kind == "maxpool2d";
  return pooled ? Epilogue::ReluMaskedDownstream : Epilogue::Relu;
}

Sequential::Sequential(const std::vector<LayerConfig>& layers, SampleShape input, size_t max_batch, Impl impl,
                       Precision precision, bool bf16_kernels)
    : input_shape_(input), max_batch_(max_batch), impl_(impl), bf16_kernels_(bf16_kernels) {
  RM_CHECK(!bf16_kernels || precision == Precision::BF16, "INVALID_ARGUMENT", "bf16 kernels need bf16 precision");
  RM_CHECK(!layers.empty(), "INVALID_ARGUMENT", "a network needs at least one layer");
  RM_CHECK(max_batch > 0 && input.size() > 0, "INVALID_ARGUMENT", "batch and input size must be > 0");
  SampleShape shape = input;
  size_t widest = input.size();
  acts_.emplace_back(max_batch * input.size());
  Epilogue previous = Epilogue::None;
  for (size_t i = 0; i < layers.size(); ++i) {
    Epilogue epilogue = fused_epilogue(layers, i, impl);
    layers_.push_back(make_layer(layers[i], shape, impl, epilogue, previous, bf16_kernels));
    if (layers[i].kind == "linear" && impl == Impl::Fast && !bf16_kernels)
      factorable_.push_back({layers_.size() - 1, FactorShape{shape.size(), layers[i].out}});
    param_offsets_.push_back(params_.count());
    names_.push_back("layers." + std::to_string(i));
    for (const auto& t : layers_.back()->params()) {
      size_t offset = params_.add("layers." + std::to_string(i) + "." + t.name, t.shape, true);
      RM_CHECK(offset == param_offsets_.back() + t.offset, "INTERNAL", "a layer's parameters must be listed in order");
    }
    previous = epilogue;
    if (epilogue != Epilogue::None) ++i;  // the ReLU runs inside this layer
    shape = layers_.back()->output_shape();
    widest = std::max(widest, shape.size());
    acts_.emplace_back(max_batch * shape.size());
  }
  first_trainable_ = layers_.size();
  for (size_t i = layers_.size(); i-- > 0;)
    if (layers_[i]->param_count() > 0) first_trainable_ = i;
  params_.allocate(precision);
  dact_a_ = FloatBuffer(max_batch * widest);
  dact_b_ = FloatBuffer(max_batch * widest);
  if (precision != Precision::F32) grad_scratch_ = FloatBuffer(params_.count());
}

void Sequential::init_params(uint64_t seed) {
  Rng rng(seed);
  for (size_t i = 0; i < layers_.size(); ++i) layers_[i]->init_params(params_.values() + param_offsets_[i], rng);
  params_.refresh_compute({Range{0, params_.count()}});
}

const float* Sequential::forward(const void* input, size_t B) {
  RM_CHECK(B > 0 && B <= max_batch_, "INVALID_ARGUMENT",
           "batch " + std::to_string(B) + " is outside [1, " + std::to_string(max_batch_) + "]");
  std::memcpy(acts_[0].data(), input, B * input_shape_.size() * sizeof(float));
  float* weights = params_.compute();
  Precision precision = params_.precision();
  round_to(precision, acts_[0].data(), B * input_shape_.size());
  for (size_t i = 0; i < layers_.size(); ++i) {
    size_t kept = max_batch_ * layers_[i]->output_shape().size() * sizeof(float);
    ProfileScope timer(profiler_, names_[i], Profiler::Phase::Forward, layers_[i]->forward_flops(B), kept);
    layers_[i]->forward(acts_[i + 1].data(), acts_[i].data(), weights + param_offsets_[i], B);
    if (!layers_[i]->preserves_rounding()) round_to(precision, acts_[i + 1].data(), B * layers_[i]->output_shape().size());
  }
  last_batch_ = B;
  return acts_.back().data();
}

void Sequential::backward(const float* dlogits, const BackwardOptions& options) {
  RM_CHECK(last_batch_ > 0, "STATE", "backward called before forward");
  const float* upstream = dlogits;
  float* dinput = options.dinput;
  bool accumulate = options.accumulate;
  const GradientsReady& ready = options.ready;
  double* factor_squares = options.factor_squares;
  float* weights = params_.compute();
  float* grads = params_.grads();
  Precision precision = params_.precision();
  bool low = precision != Precision::F32;
  for (size_t k = layers_.size(); k-- > 0;) {
    // Below the first layer with parameters only the caller can want a gradient: skip the rest
    // (for an MLP this spares the first Linear's input-gradient matmul).
    bool need_din = dinput != nullptr || k > first_trainable_;
    float* din = !need_din ? nullptr
                 : k == 0  ? dinput
                           : (upstream == dact_a_.data() ? dact_b_.data() : dact_a_.data());
    size_t offset = param_offsets_[k], count = layers_[k]->param_count();
    // In low precision a contribution is rounded before it joins the fp32 sum: computed apart
    // when there is a sum to join.
    bool apart = low && accumulate && count > 0;
    float* dparams = (apart ? grad_scratch_.data() : grads) + offset;
    int slot = factors_ && options.exchange_factors ? factor_slot_[k] : -1;
    ProfileScope timer(profiler_, names_[k], Profiler::Phase::Backward, (need_din ? 2.0 : 1.0) * layers_[k]->forward_flops(last_batch_));
    if (slot >= 0) {
      static_cast<Linear*>(layers_[k].get())->backward_factored(din, dparams, upstream, acts_[k].data(), acts_[k + 1].data(),
                                                                weights + offset, last_batch_, accumulate && !apart, *factors_, size_t(slot));
    } else {
      layers_[k]->backward(din, dparams, upstream, acts_[k].data(), acts_[k + 1].data(), weights + offset,
                           last_batch_, accumulate && !apart);
    }
    if (low && count > 0) {
      for (Range r : written_gradients(k, slot >= 0)) {
        round_to(precision, dparams + r.begin - offset, r.end - r.begin);
        if (apart) add_into(grads + r.begin, dparams + r.begin - offset, r.end - r.begin);
      }
    }
    if (factor_squares && slot >= 0)
      for (Range r : written_gradients(k, true)) *factor_squares += global_squares(grads + r.begin, r.end - r.begin);
    if (din && !layers_[k]->preserves_rounding()) {
      size_t in_size = k == 0 ? input_shape_.size() : layers_[k - 1]->output_shape().size();
      round_to(precision, din, last_batch_ * in_size);
    }
    if (ready && count > 0) ready(offset);
    if (!need_din) break;
    upstream = din;
  }
}

void Sequential::use_factor_exchange(FactorExchange* exchange, const std::vector<FactorableLayer>& layers) {
  factors_ = exchange;
  factor_slot_.assign(layers_.size(), -1);
  factored_ranges_.clear();
  for (size_t slot = 0; slot < layers.size(); ++slot) {
    size_t k = layers[slot].layer;
    bool factorable = std::any_of(factorable_.begin(), factorable_.end(), [&](const FactorableLayer& f) { return f.layer == k; });
    RM_CHECK(factorable, "INVALID_ARGUMENT", "layer " + std::to_string(k) + " cannot exchange sufficient factors");
    factor_slot_[k] = int(slot);
    Range rows = exchange->rows(slot);
    size_t offset = param_offsets_[k], in = layers[slot].shape.in, out = layers[slot].shape.out;
    factored_ranges_.push_back({offset + rows.begin * in, offset + rows.end * in});              // weight rows
    factored_ranges_.push_back({offset + out * in + rows.begin, offset + out * in + rows.end});  // bias
  }
}

std::vector<Range> Sequential::written_gradients(size_t k, bool factored) const {
  int slot = factored ? factor_slot_[k] : -1;
  if (slot < 0) return {Range{param_offsets_[k], param_offsets_[k] + layers_[k]->param_count()}};
  return {factored_ranges_[2 * size_t(slot)], factored_ranges_[2 * size_t(slot) + 1]};
}

size_t Layer::param_count() const {
  size_t n = 0;
  for (const auto& t : params()) {
    size_t count = 1;
    for (size_t d : t.shape) count *= d;
    n += count;
  }
  return n;
}

}  // namespace rm
