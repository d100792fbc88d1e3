// A GPT-2 style decoder-only transformer (model.kind: gpt): token + position embedding,
// `layers` pre-LayerNorm blocks, a final LayerNorm and an output head tied to the token
// embedding. Parameter names are nanoGPT's, so a checkpoint's tensors load into its GPT module
// by name (lm_head.weight is transformer.wte.weight, as there).
//
// A sample is `block` int32 tokens; the model predicts at every position, so forward's logits
// are [B·T, V] and positions() is T.
#pragma once

#include <memory>
#include <vector>

#include "../core/model.h"
#include "../nn/block.h"

namespace rm {

struct GptConfig {
  size_t vocab = 0;     // V
  size_t block = 0;     // T: the context length
  size_t layers = 0;    // 0: not a GPT
  size_t heads = 0;     // H
  size_t channels = 0;  // C
  bool bias = true;     // biases in the Linear and LayerNorm layers
};

class Gpt final : public Model {
 public:
  // bf16_kernels (bf16 precision, fast path): the matrix products run oneDNN's bf16 kernels.
  // Activations live on `device` (the CPU's for now: its kernels are the CPU ones).
  Gpt(const GptConfig& config, size_t max_batch, Impl impl, Precision precision, bool bf16_kernels = false,
      Device& device = cpu_device());

  ModelInput input() const override { return {DType::I32, config_.block}; }
  size_t positions() const override { return config_.block; }
  size_t classes() const override { return config_.vocab; }
  size_t max_batch() const override { return max_batch_; }
  size_t last_batch() const override { return last_batch_; }
  bool bf16_kernels() const override { return bf16_kernels_; }
  Kernels& kernels() const override { return kernels_; }
  // GPT-2's: every weight and embedding N(0, 0.02), the residual projections (c_proj)
  // N(0, 0.02/√(2·layers)), biases 0, LayerNorm gains 1.
  void init_params(uint64_t seed) override;
  const float* forward(const void* input, size_t B) override;
  void backward(const float* dlogits, const BackwardOptions& options) override;
  const std::vector<size_t>& gradient_ready_offsets() const override { return ready_offsets_; }

  // Autoregressive sampling of one sequence with a KV cache: feeds `prompt` (at least one
  // token), then draws `count` tokens, each from softmax(logits / temperature) over the top_k
  // most likely (0: all; temperature 0: the most likely), from an RNG seeded with `seed`. The
  // context is the last `block` tokens: when a sequence outgrows it, the cache is rebuilt from
  // the window's tokens (nanoGPT's crop). Overwrites what forward kept for backward.
  std::vector<int32_t> generate(const std::vector<int32_t>& prompt, size_t count, float temperature, size_t top_k,
                                uint64_t seed);

 private:
  static const std::string kEmbeddingName, kHeadName;
  Pass pass(size_t B);
  const float* decode(int32_t token, size_t t);  // logits [V] of position t; caches rows 0..t-1 filled
  std::vector<Tensor> k_cache_, v_cache_;  // per layer [T, C], made on the first generate
  GptConfig config_;
  size_t max_batch_;
  bool bf16_kernels_;
  Kernels& kernels_;
  ParamSlot wte_, wpe_;
  std::vector<std::unique_ptr<Block>> blocks_;
  std::unique_ptr<LayerNormModule> ln_f_;
  std::vector<size_t> ready_offsets_;  // embeddings, each block, ln_f
  Device& device_;
  Tensor tokens_;                      // the last forward's, int32 [B, T]
  Tensor embedded_, logits_, dres_;    // [B·T, C], [B·T, V], [B·T, C] at the largest batch
  std::unique_ptr<BlockWorkspace> workspace_;
  FloatBuffer grad_scratch_;  // mixed precision (GradientSink)
  size_t last_batch_ = 0;
};

}  // namespace rm
