// A GPT-2 style decoder-only transformer (model.kind: gpt): token + position embedding,
// `layers` pre-LayerNorm blocks, a final LayerNorm and an output head tied to the token
// embedding. Parameter names are nanoGPT's, so a checkpoint's tensors load into its GPT module
// by name (lm_head.weight is transformer.wte.weight, as there).
//
// A sample is `block` int32 tokens; the model predicts at every position, so forward's logits
// are [B·T, V] and positions() is T.
//
// A pipeline stage is a part of the model (GptPart): one or more chunks of contiguous blocks (more
// than one for interleaved stages), with the embeddings before the first chunk if it is the first
// stage and the final LayerNorm and head after the last chunk if it is the last; between chunks
// the residual stream [B·T, C] goes forward and its gradient back. The last stage holds its own
// copy of the token embedding for the tied head (Megatron's way), kept equal to the first stage's
// by summing the two copies' gradients. Parameter names stay the whole model's, so the stages'
// checkpoints together load into one GPT. Each chunk keeps `slots` activation sets, one per
// micro-batch in flight.
#pragma once

#include <memory>
#include <vector>

#include "../core/model.h"
#include "../nn/block.h"

namespace rm {

struct GptPart {
  struct Chunk {
    size_t first_layer, end_layer;  // blocks [first, end)
  };
  std::vector<Chunk> chunks;  // in model order; none: one chunk of every block
  bool embedding = true;      // token and position embeddings, before the first chunk: the first stage
  bool head = true;           // final LayerNorm and the tied head, after the last chunk: the last stage
};

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
  // Parameters and activations live on `device`, computed by the kernels chosen for it
  // (kernels.h: choose_kernels; with bf16 matmuls, the CPU's matrix products run oneDNN's bf16 kernels).
  Gpt(const GptConfig& config, size_t max_batch, KernelChoice kernels, Precision precision, Device& device = cpu_device(),
      GptPart part = {}, size_t slots = 1);

  ModelInput input() const override { return {DType::I32, config_.block}; }
  size_t positions() const override { return config_.block; }
  size_t classes() const override { return config_.vocab; }
  size_t max_batch() const override { return max_batch_; }
  size_t last_batch() const override { return chunks_[chunk_].sets[slot_].batch; }
  bool bf16_kernels() const override { return bf16_kernels_; }
  Kernels& kernels() const override { return kernels_; }
  // GPT-2's: every weight and embedding N(0, 0.02), the residual projections (c_proj)
  // N(0, 0.02/√(2·layers)), biases 0, LayerNorm gains 1. A stage draws the whole model's
  // sequence and keeps its own parameters' values, so the stages start as one model would.
  void init_params(uint64_t seed) override;
  ConstView forward(const void* input, size_t B) override;
  void backward(ConstView dlogits, const BackwardOptions& options) override;
  DType output_dtype() const override { return part_.head ? activation_dtype_ : DType::F32; }
  const std::vector<size_t>& gradient_ready_offsets() const override { return ready_offsets_; }
  bool first_stage() const override { return part_.embedding; }
  bool last_stage() const override { return part_.head; }
  size_t stage_input() const override { return config_.channels; }
  size_t stage_output() const override { return config_.channels; }
  Range shared_weight() const override;
  size_t chunks() const override { return chunks_.size(); }
  size_t slots() const override { return chunks_[0].sets.size(); }
  void select(size_t chunk, size_t slot) override;

  // Autoregressive sampling of one sequence with a KV cache: feeds `prompt` (at least one
  // token), then draws `count` tokens, each from softmax(logits / temperature) over the top_k
  // most likely (0: all; temperature 0: the most likely), from an RNG seeded with `seed`. The
  // context is the last `block` tokens: when a sequence outgrows it, the cache is rebuilt from
  // the window's tokens (nanoGPT's crop). Overwrites what forward kept for backward.
  std::vector<int32_t> generate(const std::vector<int32_t>& prompt, size_t count, float temperature, size_t top_k,
                                uint64_t seed);

 private:
  // One micro-batch's activations: the modules that keep them, and the tensors between them.
  struct Activations {
    std::vector<std::unique_ptr<Block>> blocks;
    std::unique_ptr<LayerNormModule> ln_f;  // the last stage
    Tensor tokens;                          // the first stage: int32 [B, T]
    Tensor embedded;                        // [B·T, C]: the embeddings' sum, or the previous stage's output
    Tensor logits;                          // the last stage: [B·T, V], in the activation type
    size_t batch = 0;                       // of the last forward, 0: none (or overwritten)
  };
  // Blocks [first, end) with their activation sets, and where the groups of parameters that
  // finish together in its backward begin, ascending (the first chunk's first is 0).
  struct Chunk {
    size_t first_layer, end_layer;
    std::vector<Activations> sets;
    std::vector<size_t> ready;
  };
  static const std::string kEmbeddingName, kHeadName;
  bool embeds() const { return part_.embedding && chunk_ == 0; }
  bool heads() const { return part_.head && chunk_ + 1 == chunks_.size(); }
  Activations make_activations(const Scope& transformer, size_t c, size_t rows);
  Pass pass(size_t B);
  const float* decode(int32_t token, size_t t);  // logits [V] of position t; caches rows 0..t-1 filled
  std::vector<Tensor> k_cache_, v_cache_;  // per layer [T, C], made on the first generate
  GptConfig config_;
  GptPart part_;
  size_t max_batch_;
  bool bf16_kernels_;
  Kernels& kernels_;
  DType activation_dtype_;  // kernels_.activation_dtype(precision): the logits' too
  ParamSlot wte_, wpe_;  // wpe absent but on the first stage; wte absent on a middle stage
  std::vector<size_t> ready_offsets_;  // embeddings (when any), each block, ln_f (the last stage)
  Device& device_;
  std::vector<Chunk> chunks_;
  size_t chunk_ = 0, slot_ = 0;  // the activation set forward and backward use
  Tensor dres_;  // [B·T, C] at the largest batch: the residual stream's gradient
  std::unique_ptr<BlockWorkspace> workspace_;
  Tensor grad_scratch_;  // mixed precision (GradientSink)
};

}  // namespace rm
