// A pre-LayerNorm transformer block (GPT-2's): x + attn(ln_1(x)), then + mlp(ln_2(·)).
// Backward works on the residual stream's gradient in place: each branch's input gradient is
// added to it, which is the whole of a residual connection's backward.
#pragma once

#include "attention.h"
#include "layernorm.h"
#include "mlp.h"

namespace rm {

class Block {
 public:
  Block(const Scope& scope, size_t C, size_t H, bool bias, size_t max_rows);
  void init(Parameters& params, Rng& rng, float std, float proj_std) const;
  // The normal draws init makes: its four weight matrices, 12·C² values.
  static size_t init_draws(size_t C) { return 12 * C * C; }
  const float* forward(const Pass& p, const float* x);  // keeps x (the residual stream in, fp32)
  // dres[N, C]: on entry ∂L/∂(block output), on return ∂L/∂x.
  void backward(const Pass& p, float* dres, BlockWorkspace& w);
  // One position t of one sequence (p.N = 1) with the attention's KV cache (see
  // CausalSelfAttention::decode).
  const float* decode(const Pass& p, const float* x, float* k_cache, float* v_cache, size_t t);

 private:
  // out = stream + branch (forward); dres += dbranch (backward): the residual connection.
  void add_residual(const Pass& p, float* out, const float* stream, ConstView branch);
  void join_gradient(const Pass& p, float* dres, ConstView dbranch);
  std::string residual_name_;
  size_t C_;
  LayerNormModule ln_1_;
  CausalSelfAttention attn_;
  LayerNormModule ln_2_;
  Mlp mlp_;
  Tensor mid_, out_;  // [N, C], fp32 (the residual stream): x + attn(…), and the block's output
};

}  // namespace rm
