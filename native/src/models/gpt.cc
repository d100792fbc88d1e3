#include "gpt.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

namespace rm {

// Module paths of the parts that are not modules of their own, as the profiler names them.
const std::string Gpt::kEmbeddingName = "transformer.wte+wpe";
const std::string Gpt::kHeadName = "lm_head";

Gpt::Gpt(const GptConfig& c, size_t max_batch, KernelChoice kernels, Precision precision, Device& device, GptPart part,
         size_t slots)
    : config_(c),
      part_(part),
      max_batch_(max_batch),
      bf16_kernels_(kernels.bf16_matmuls),
      kernels_(kernels.kernels),
      activation_dtype_(kernels_.activation_dtype(precision)),
      device_(device) {
  RM_CHECK(!bf16_kernels_ || precision == Precision::BF16, "INVALID_ARGUMENT", "bf16 kernels need bf16 precision");
  RM_CHECK(c.vocab > 0 && c.block > 0 && c.layers > 0 && c.channels > 0 && max_batch > 0 && slots > 0, "INVALID_ARGUMENT",
           "a GPT needs vocab, block, layers, channels and batch > 0");
  if (part_.chunks.empty()) part_.chunks.push_back({0, c.layers});
  for (size_t k = 0; k < part_.chunks.size(); ++k) {
    const GptPart::Chunk& ch = part_.chunks[k];
    RM_CHECK(ch.first_layer < ch.end_layer && ch.end_layer <= c.layers && (k == 0 || part_.chunks[k - 1].end_layer <= ch.first_layer),
             "INVALID_ARGUMENT",
             "a GPT stage's blocks [" + std::to_string(ch.first_layer) + ", " + std::to_string(ch.end_layer) +
                 ") are not a next run of blocks of a " + std::to_string(c.layers) + "-layer model");
  }
  size_t rows = max_batch * c.block, C = c.channels;
  Scope transformer(params_, "transformer.", DecayRule::Matrices, device, activation_dtype_);
  if (part_.embedding || part_.head) wte_ = transformer.child("wte").param("weight", {c.vocab, C});
  if (part_.embedding) wpe_ = transformer.child("wpe").param("weight", {c.block, C});
  if (params_.count() > 0) ready_offsets_.push_back(0);
  for (size_t k = 0; k < part_.chunks.size(); ++k) {
    chunks_.push_back({part_.chunks[k].first_layer, part_.chunks[k].end_layer, {}, {}});
    if (k == 0 && params_.count() > 0) chunks_[0].ready.push_back(0);  // the embeddings (or the head's copy of wte)
    chunks_[k].sets.push_back(make_activations(transformer, k, rows));  // registers the blocks' and ln_f's parameters
  }
  params_.allocate(precision, device);
  for (size_t k = 0; k < chunks_.size(); ++k)
    for (size_t s = 1; s < slots; ++s) chunks_[k].sets.push_back(make_activations(transformer.reusing(), k, rows));
  dres_ = transformer.fp32({rows, C});
  workspace_ = std::make_unique<BlockWorkspace>(transformer, rows, C);
  if (precision != Precision::F32) grad_scratch_ = Tensor({params_.count()}, DType::F32, device);
}

Gpt::Activations Gpt::make_activations(const Scope& transformer, size_t k, size_t rows) {
  Activations a;
  size_t C = config_.channels;
  Chunk& chunk = chunks_[k];
  bool registering = chunk.sets.empty();
  auto group = [&] {
    if (!registering) return;
    ready_offsets_.push_back(params_.count());
    if (chunk.ready.empty() || chunk.ready.back() != params_.count()) chunk.ready.push_back(params_.count());
  };
  for (size_t l = chunk.first_layer; l < chunk.end_layer; ++l) {
    group();
    a.blocks.push_back(std::make_unique<Block>(transformer.child("h").child(std::to_string(l)), C, config_.heads, config_.bias, rows));
  }
  bool head = part_.head && k + 1 == part_.chunks.size(), embedding = part_.embedding && k == 0;
  if (head) {
    group();
    a.ln_f = std::make_unique<LayerNormModule>(transformer.child("ln_f"), C, config_.bias, rows);
    a.logits = transformer.activation({rows, config_.vocab});
  }
  if (embedding) a.tokens = Tensor({max_batch_, config_.block}, DType::I32, device_);
  a.embedded = transformer.fp32({rows, C});
  return a;
}

Range Gpt::shared_weight() const {
  bool split = part_.head != part_.embedding;  // the token embedding's two uses on different stages
  return split && wte_.present() ? Range{wte_.offset, wte_.offset + wte_.count} : Range{0, 0};
}

void Gpt::select(size_t chunk, size_t slot) {
  RM_CHECK(chunk < chunks_.size() && slot < chunks_[chunk].sets.size(), "INTERNAL",
           "activation set " + std::to_string(slot) + " of chunk " + std::to_string(chunk) + " of " + std::to_string(chunks_.size()));
  chunk_ = chunk;
  slot_ = slot;
}

void Gpt::init_params(uint64_t seed) {
  Rng rng(seed);
  constexpr float kStd = 0.02f;
  float proj_std = kStd / std::sqrt(2.0f * float(config_.layers));
  float* v = params_.host_values();
  size_t C = config_.channels;
  auto draw = [&](ParamSlot s, size_t count) {
    if (!s.present()) return rng.skip_normals(count);
    for (size_t i = 0; i < s.count; ++i) v[s.offset + i] = rng.normal(0.0f, kStd);
  };
  draw(wte_, config_.vocab * C);
  draw(wpe_, config_.block * C);
  for (size_t l = 0; l < config_.layers; ++l) {
    auto held = std::find_if(chunks_.begin(), chunks_.end(), [&](const Chunk& k) { return l >= k.first_layer && l < k.end_layer; });
    if (held == chunks_.end()) rng.skip_normals(Block::init_draws(C));
    else held->sets[0].blocks[l - held->first_layer]->init(params_, rng, kStd, proj_std);
  }
  if (part_.head) chunks_.back().sets[0].ln_f->init(params_);
  params_.upload_host_values();
  params_.refresh_compute({Range{0, params_.count()}}, kernels_);
}

Pass Gpt::pass(size_t B) {
  Pass p{kernels_, params_, B, config_.block, B * config_.block};
  p.profiler = profiler_;
  return p;
}

ConstView Gpt::forward(const void* input, size_t B) {
  RM_CHECK(B > 0 && B <= max_batch_, "INVALID_ARGUMENT",
           "batch " + std::to_string(B) + " is outside [1, " + std::to_string(max_batch_) + "]");
  Activations& a = chunks_[chunk_].sets[slot_];
  Pass p = pass(B);
  size_t C = config_.channels, V = config_.vocab;
  if (embeds()) {
    const int32_t* tokens = static_cast<const int32_t*>(input);
    for (size_t i = 0; i < p.N; ++i)
      RM_CHECK(tokens[i] >= 0 && size_t(tokens[i]) < V, "INVALID_ARGUMENT",
               "token " + std::to_string(tokens[i]) + " at position " + std::to_string(i) + " is outside the vocabulary [0, " + std::to_string(V) + ")");
    device_.copy_from_host(a.tokens.i32(), tokens, p.N * sizeof(int32_t));
    auto timer = p.forward_scope(kEmbeddingName, double(p.N * C), a.embedded.numel() * sizeof(float));
    kernels_.embedding_forward(a.embedded.f32(), a.tokens.i32(), p.weight(wte_), p.weight(wpe_), B, p.T, C);
    p.round(a.embedded.f32(), p.N * C);
  } else {
    device_.copy(a.embedded.f32(), input, p.N * C * sizeof(float));  // the previous stage's output, on this device
  }
  const float* x = a.embedded.f32();
  for (auto& b : a.blocks) x = b->forward(p, x);
  a.batch = B;
  if (!heads()) return x;
  ConstView h = a.ln_f->forward(p, x);
  auto timer = p.forward_scope(kHeadName, 2.0 * p.N * C * V, a.logits.numel() * dtype_size(a.logits.dtype()));
  kernels_.matmul_forward(a.logits.view(), h, p.weight(wte_), nullptr, p.N, C, V, Epilogue::None);  // the tied head
  p.round(a.logits.view(), p.N * V);
  return a.logits.view();
}

void Gpt::backward(ConstView dout, const BackwardOptions& o) {
  Activations& a = chunks_[chunk_].sets[slot_];
  RM_CHECK(a.batch > 0, "STATE", "backward called before forward");
  RM_CHECK(o.dinput == nullptr || !embeds(), "INVALID_ARGUMENT", "a GPT's input is tokens: it has no input gradient");
  GradientSink sink(params_, grad_scratch_.defined() ? grad_scratch_.f32() : nullptr, kernels_);
  sink.begin(o.accumulate);
  Pass p = pass(a.batch);
  p.grads = &sink;
  size_t C = config_.channels, V = config_.vocab;
  float* dres = dres_.f32();
  const std::vector<size_t>& groups = chunks_[chunk_].ready;
  size_t group = groups.size();  // this chunk's ready groups not yet reported
  if (heads()) {
    View dh = workspace_->c1.view();
    {
      auto timer = p.backward_scope(kHeadName, 4.0 * p.N * C * V);
      auto head = sink.target(wte_);
      kernels_.matmul_backward(dh, head.data, nullptr, dout, a.ln_f->output(), p.weight(wte_), p.N, C, V, head.accumulate);
      sink.commit(wte_);
      p.round(dh, p.N * C);
    }
    a.ln_f->backward(p, dres, dh);
    if (o.ready) o.ready(groups[--group]);
  } else {
    device_.copy(dres, dout.f32(), p.N * C * sizeof(float));  // the next stage's gradient of this one's output
  }
  for (size_t l = a.blocks.size(); l-- > 0;) {
    a.blocks[l]->backward(p, dres, *workspace_);
    if (o.ready && group > 1) o.ready(groups[--group]);
  }
  if (embeds()) {
    auto timer = p.backward_scope(kEmbeddingName, double(p.N * C));
    auto te = sink.target(wte_), pe = sink.target(wpe_);
    kernels_.embedding_backward(te.data, pe.data, dres, a.tokens.i32(), a.batch, p.T, C, V, te.accumulate, pe.accumulate);
    sink.commit(wte_);
    sink.commit(wpe_);
  } else if (o.dinput) {
    device_.copy(o.dinput, dres, p.N * C * sizeof(float));
  }
  if (o.ready) o.ready(groups[0]);
}

}  // namespace rm
