#include "attention.h"

#include <algorithm>

namespace rm {

CausalSelfAttention::CausalSelfAttention(const Scope& scope, size_t C, size_t H, bool bias, size_t max_rows)
    : core_name_(scope.path() + ".sdpa"),
      C_(C),
      H_(H),
      c_attn_(scope.child("c_attn"), C, 3 * C, bias, max_rows),
      c_proj_(scope.child("c_proj"), C, C, bias, max_rows),
      y_(scope.activation({max_rows, C})),
      lse_(scope.fp32({max_rows, H})) {
  RM_CHECK(H > 0 && C % H == 0, "INVALID_ARGUMENT", "channels (" + std::to_string(C) + ") must be a multiple of heads (" + std::to_string(H) + ")");
}

void CausalSelfAttention::init(Parameters& params, Rng& rng, float std, float proj_std) const {
  c_attn_.init(params, rng, std);
  c_proj_.init(params, rng, proj_std);
}

ConstView CausalSelfAttention::forward(const Pass& p, ConstView x) {
  ConstView qkv = c_attn_.forward(p, x);
  {
    // q·kᵀ and p·v over the causal half: 2 · 2·T²/2 · C per sequence
    auto timer = p.forward_scope(core_name_, 2.0 * p.B * p.T * p.T * C_, y_.numel() * dtype_size(y_.dtype()) + lse_.numel() * sizeof(float));
    p.k.attention_forward(y_.view(), lse_.f32(), qkv, p.B, p.T, C_, H_);
    p.round(y_.view(), p.N * C_);
  }
  return c_proj_.forward(p, y_.view());
}

void CausalSelfAttention::backward(const Pass& p, View din, ConstView dout, BlockWorkspace& w) {
  View dy = w.c1b.view();
  c_proj_.backward(p, dy, dout);
  View dqkv = w.c3.view();
  {
    auto timer = p.backward_scope(core_name_, 5.0 * p.B * p.T * p.T * C_);  // the scores again, then dv, dp, dq, dk
    p.k.attention_backward(dqkv, dy, c_attn_.output(), y_.view(), lse_.f32(), p.B, p.T, C_, H_);
    p.round(dqkv, p.N * 3 * C_);
  }
  c_attn_.backward(p, din, dqkv);
}

ConstView CausalSelfAttention::decode(const Pass& p, ConstView x, float* k_cache, float* v_cache, size_t t) {
  const float* qkv = c_attn_.forward(p, x).f32();
  std::copy_n(qkv + C_, C_, k_cache + t * C_);
  std::copy_n(qkv + 2 * C_, C_, v_cache + t * C_);
  p.k.attention_step(y_.f32(), qkv, k_cache, v_cache, t, C_, H_);
  p.round(y_.f32(), C_);
  return c_proj_.forward(p, y_.f32());
}

}  // namespace rm
