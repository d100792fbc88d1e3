// Sampling from a GPT: one position at a time through every block with a KV cache, so each new
// token costs one row of work per layer instead of a forward over the whole context (until the
// context is full: then each new token rebuilds the cache over the window, nanoGPT's crop).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "../core/rng.h"
#include "gpt.h"

namespace rm {

const float* Gpt::decode(int32_t token, size_t t) {
  RM_CHECK(token >= 0 && size_t(token) < config_.vocab, "INVALID_ARGUMENT",
           "token " + std::to_string(token) + " is outside the vocabulary [0, " + std::to_string(config_.vocab) + ")");
  Pass p{kernels_, params_, 1, 1, 1};
  size_t C = config_.channels;
  Activations& a = chunks_[0].sets[0];
  const float* wte = p.weight(wte_) + size_t(token) * C;
  const float* wpe = p.weight(wpe_) + t * C;
  p.k.residual_forward(a.embedded.f32(), wte, wpe, C);
  p.round(a.embedded.f32(), C);
  const float* x = a.embedded.f32();
  for (size_t l = 0; l < a.blocks.size(); ++l) x = a.blocks[l]->decode(p, x, k_cache_[l].f32(), v_cache_[l].f32(), t);
  ConstView h = a.ln_f->forward(p, x);
  kernels_.matmul_forward(a.logits.f32(), h, p.weight(wte_), nullptr, 1, C, config_.vocab, Epilogue::None);
  return a.logits.f32();
}

// Draws from softmax(logits / temperature) restricted to the top_k largest (0: all).
static int32_t draw(const float* logits, size_t V, float temperature, size_t top_k, Rng& rng) {
  std::vector<int32_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  if (temperature <= 0.0f) return int32_t(std::max_element(logits, logits + V) - logits);
  size_t k = top_k == 0 ? V : std::min(top_k, V);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  std::vector<double> p(k);
  double max = logits[order[0]], sum = 0;
  for (size_t i = 0; i < k; ++i) sum += (p[i] = std::exp((logits[order[i]] - max) / temperature));
  double u = double(rng.next_u64() >> 11) * (1.0 / 9007199254740992.0) * sum;
  for (size_t i = 0; i < k; ++i) {
    if ((u -= p[i]) < 0) return order[i];
  }
  return order[k - 1];
}

std::vector<int32_t> Gpt::generate(const std::vector<int32_t>& prompt, size_t count, float temperature, size_t top_k,
                                   uint64_t seed) {
  RM_CHECK(!prompt.empty(), "INVALID_ARGUMENT", "sampling needs a prompt of at least one token");
  RM_CHECK(part_.embedding && part_.head && chunks_.size() == 1, "INVALID_ARGUMENT", "sampling needs the whole model, not one pipeline stage");
  RM_CHECK(activation_dtype_ == DType::F32, "INVALID_ARGUMENT",
           "sampling runs on fp32 activations: build the engine in fp32 to sample (this one stores them in bf16)");
  chunks_[0].sets[0].batch = 0;  // decoding overwrites the activations a backward would read
  size_t T = config_.block, C = config_.channels;
  if (k_cache_.empty())
    for (size_t l = 0; l < chunks_[0].sets[0].blocks.size(); ++l) {
      k_cache_.emplace_back(Shape{T, C}, DType::F32, device_);
      v_cache_.emplace_back(Shape{T, C}, DType::F32, device_);
    }
  Rng rng(seed);
  std::vector<int32_t> seq = prompt, out;
  size_t filled = 0;  // positions whose k and v are in the cache, for the window seq[start, …)
  size_t start = seq.size() > T ? seq.size() - T : 0;
  const float* logits = nullptr;
  while (out.size() < count) {
    if (seq.size() - start > T) {  // the context is full: slide the window, rebuild the cache
      start = seq.size() - T;
      filled = 0;
    }
    for (; start + filled < seq.size(); ++filled) logits = decode(seq[start + filled], filled);
    int32_t next = draw(logits, config_.vocab, temperature, top_k, rng);
    seq.push_back(next);
    out.push_back(next);
  }
  return out;
}

}  // namespace rm
