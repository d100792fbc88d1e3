#include "gpt.h"

#include <cmath>
#include <cstring>
#include <string>

namespace rm {

// Module paths of the parts that are not modules of their own, as the profiler names them.
const std::string Gpt::kEmbeddingName = "transformer.wte+wpe";
const std::string Gpt::kHeadName = "lm_head";

Gpt::Gpt(const GptConfig& c, size_t max_batch, Impl impl, Precision precision, bool bf16_kernels, Device& device)
    : config_(c), max_batch_(max_batch), bf16_kernels_(bf16_kernels), kernels_(cpu_kernels(impl, bf16_kernels)), device_(device) {
  RM_CHECK(device.kind() == DeviceKind::Cpu, "INVALID_ARGUMENT", "this build's GPT kernels run on the CPU, not " + device.name());
  RM_CHECK(!bf16_kernels || precision == Precision::BF16, "INVALID_ARGUMENT", "bf16 kernels need bf16 precision");
  RM_CHECK(c.vocab > 0 && c.block > 0 && c.layers > 0 && c.channels > 0 && max_batch > 0, "INVALID_ARGUMENT",
           "a GPT needs vocab, block, layers, channels and batch > 0");
  size_t rows = max_batch * c.block, C = c.channels;
  Scope transformer(params_, "transformer.", DecayRule::Matrices, device);
  wte_ = transformer.child("wte").param("weight", {c.vocab, C});
  wpe_ = transformer.child("wpe").param("weight", {c.block, C});
  ready_offsets_.push_back(0);
  for (size_t l = 0; l < c.layers; ++l) {
    ready_offsets_.push_back(params_.count());
    blocks_.push_back(std::make_unique<Block>(transformer.child("h").child(std::to_string(l)), C, c.heads, c.bias, rows));
  }
  ready_offsets_.push_back(params_.count());
  ln_f_ = std::make_unique<LayerNormModule>(transformer.child("ln_f"), C, c.bias, rows);
  params_.allocate(precision);
  tokens_ = Tensor({max_batch, c.block}, DType::I32, device);
  embedded_ = transformer.activation({rows, C});
  logits_ = transformer.activation({rows, c.vocab});
  dres_ = transformer.activation({rows, C});
  workspace_ = std::make_unique<BlockWorkspace>(transformer, rows, C);
  if (precision != Precision::F32) grad_scratch_ = FloatBuffer(params_.count());
}

void Gpt::init_params(uint64_t seed) {
  Rng rng(seed);
  constexpr float kStd = 0.02f;
  float proj_std = kStd / std::sqrt(2.0f * float(config_.layers));
  float* v = params_.values();
  for (ParamSlot s : {wte_, wpe_})
    for (size_t i = 0; i < s.count; ++i) v[s.offset + i] = rng.normal(0.0f, kStd);
  for (auto& b : blocks_) b->init(params_, rng, kStd, proj_std);
  ln_f_->init(params_);
  params_.refresh_compute({Range{0, params_.count()}});
}

Pass Gpt::pass(size_t B) {
  Pass p{kernels_, params_, B, config_.block, B * config_.block};
  p.profiler = profiler_;
  return p;
}

const float* Gpt::forward(const void* input, size_t B) {
  RM_CHECK(B > 0 && B <= max_batch_, "INVALID_ARGUMENT",
           "batch " + std::to_string(B) + " is outside [1, " + std::to_string(max_batch_) + "]");
  Pass p = pass(B);
  size_t C = config_.channels, V = config_.vocab;
  const int32_t* tokens = static_cast<const int32_t*>(input);
  for (size_t i = 0; i < p.N; ++i)
    RM_CHECK(tokens[i] >= 0 && size_t(tokens[i]) < V, "INVALID_ARGUMENT",
             "token " + std::to_string(tokens[i]) + " at position " + std::to_string(i) + " is outside the vocabulary [0, " + std::to_string(V) + ")");
  device_.copy_from_host(tokens_.i32(), tokens, p.N * sizeof(int32_t));
  {
    auto timer = p.forward_scope(kEmbeddingName, double(p.N * C), embedded_.numel() * sizeof(float));
    kernels_.embedding_forward(embedded_.f32(), tokens_.i32(), p.weight(wte_), p.weight(wpe_), B, p.T, C);
    p.round(embedded_.f32(), p.N * C);
  }
  const float* x = embedded_.f32();
  for (auto& b : blocks_) x = b->forward(p, x);
  const float* h = ln_f_->forward(p, x);
  auto timer = p.forward_scope(kHeadName, 2.0 * p.N * C * V, logits_.numel() * sizeof(float));
  kernels_.matmul_forward(logits_.f32(), h, p.weight(wte_), nullptr, p.N, C, V, Epilogue::None);  // the tied head
  p.round(logits_.f32(), p.N * V);
  last_batch_ = B;
  return logits_.f32();
}

void Gpt::backward(const float* dlogits, const BackwardOptions& o) {
  RM_CHECK(last_batch_ > 0, "STATE", "backward called before forward");
  RM_CHECK(o.dinput == nullptr, "INVALID_ARGUMENT", "a GPT's input is tokens: it has no input gradient");
  GradientSink sink(params_, grad_scratch_.data());
  sink.begin(o.accumulate);
  Pass p = pass(last_batch_);
  p.grads = &sink;
  size_t C = config_.channels, V = config_.vocab;
  float* dh = workspace_->c1.f32();
  {
    auto timer = p.backward_scope(kHeadName, 4.0 * p.N * C * V);
    auto head = sink.target(wte_);
    kernels_.matmul_backward(dh, head.data, nullptr, dlogits, ln_f_->output(), p.weight(wte_), p.N, C, V, head.accumulate);
    sink.commit(wte_);
    p.round(dh, p.N * C);
  }
  ln_f_->backward(p, dres_.f32(), dh);
  if (o.ready) o.ready(ready_offsets_.back());
  for (size_t l = blocks_.size(); l-- > 0;) {
    blocks_[l]->backward(p, dres_.f32(), *workspace_);
    if (o.ready) o.ready(ready_offsets_[l + 1]);
  }
  auto timer = p.backward_scope(kEmbeddingName, double(p.N * C));
  auto te = sink.target(wte_), pe = sink.target(wpe_);
  kernels_.embedding_backward(te.data, pe.data, dres_.f32(), tokens_.i32(), last_batch_, p.T, C, V, te.accumulate, pe.accumulate);
  sink.commit(wte_);
  sink.commit(wpe_);
  if (o.ready) o.ready(0);
}

}  // namespace rm
