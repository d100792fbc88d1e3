// Causal multi-head self-attention (nanoGPT's CausalSelfAttention): qkv = c_attn(x) [N, 3C],
// y = softmax(q·kᵀ/√D + causal mask)·v per head [N, C], out = c_proj(y).
#pragma once

#include "../core/common.h"
#include "linear.h"

namespace rm {

// Gradient scratch a block's backward passes through, shared by every block of a model (in the
// activation type: the residual stream's gradient is the model's, in fp32).
struct BlockWorkspace {
  Tensor c1, c1b, c3, c4;  // [N, C], [N, C], [N, 3C], [N, 4C]
  BlockWorkspace(const Scope& s, size_t max_rows, size_t C)
      : c1(s.activation({max_rows, C})), c1b(s.activation({max_rows, C})), c3(s.activation({max_rows, 3 * C})),
        c4(s.activation({max_rows, 4 * C})) {}
};

class CausalSelfAttention {
 public:
  CausalSelfAttention(const Scope& scope, size_t C, size_t H, bool bias, size_t max_rows);
  void init(Parameters& params, Rng& rng, float std, float proj_std) const;
  ConstView forward(const Pass& p, ConstView x);
  // din[N, C] from dout[N, C]; w: scratch.
  void backward(const Pass& p, View din, ConstView dout, BlockWorkspace& w);
  // Decoding one position t (p.N = 1; fp32 activations): appends its k and v to the cache rows t
  // of k_cache and v_cache [T, C], attends over rows 0..t. Overwrites what forward kept for backward.
  ConstView decode(const Pass& p, ConstView x, float* k_cache, float* v_cache, size_t t);

 private:
  std::string core_name_;  // the attention itself, between c_attn and c_proj
  size_t C_, H_;
  LinearModule c_attn_, c_proj_;
  Tensor y_, lse_;  // [N, C]; [N, H] elements holding lse as [B, H, T]
};

}  // namespace rm
