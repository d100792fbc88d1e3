#include "block.h"

namespace rm {

Block::Block(const Scope& scope, size_t C, size_t H, bool bias, size_t max_rows)
    : residual_name_(scope.path() + ".residual"),
      C_(C),
      ln_1_(scope.child("ln_1"), C, bias, max_rows),
      attn_(scope.child("attn"), C, H, bias, max_rows),
      ln_2_(scope.child("ln_2"), C, bias, max_rows),
      mlp_(scope.child("mlp"), C, bias, max_rows),
      mid_(scope.fp32({max_rows, C})),
      out_(scope.fp32({max_rows, C})) {}

void Block::init(Parameters& params, Rng& rng, float std, float proj_std) const {
  ln_1_.init(params);
  attn_.init(params, rng, std, proj_std);
  ln_2_.init(params);
  mlp_.init(params, rng, std, proj_std);
}

const float* Block::forward(const Pass& p, const float* x) {
  ConstView attn = attn_.forward(p, ln_1_.forward(p, x));
  add_residual(p, mid_.f32(), x, attn);
  ConstView mlp = mlp_.forward(p, ln_2_.forward(p, mid_.f32()));
  add_residual(p, out_.f32(), mid_.f32(), mlp);
  return out_.f32();
}

void Block::add_residual(const Pass& p, float* out, const float* stream, ConstView branch) {
  size_t n = p.N * C_;
  auto timer = p.forward_scope(residual_name_, double(n), 2 * n * sizeof(float));
  p.k.residual_forward(out, stream, branch, n);
  p.round(out, n);
}

void Block::join_gradient(const Pass& p, float* dres, ConstView dbranch) {
  size_t n = p.N * C_;
  auto timer = p.backward_scope(residual_name_, double(n));
  p.k.add_into(dres, dbranch, n);
  p.round(dres, n);
}

const float* Block::decode(const Pass& p, const float* x, float* k_cache, float* v_cache, size_t t) {
  p.k.residual_forward(mid_.f32(), x, attn_.decode(p, ln_1_.forward(p, x), k_cache, v_cache, t), C_);
  p.round(mid_.f32(), C_);
  p.k.residual_forward(out_.f32(), mid_.f32(), mlp_.forward(p, ln_2_.forward(p, mid_.f32())), C_);
  p.round(out_.f32(), C_);
  return out_.f32();
}

void Block::backward(const Pass& p, float* dres, BlockWorkspace& w) {
  mlp_.backward(p, w.c1.view(), dres, w);
  ln_2_.backward(p, w.c1b.view(), w.c1.view());
  join_gradient(p, dres, w.c1b.view());
  attn_.backward(p, w.c1.view(), dres, w);
  ln_1_.backward(p, w.c1b.view(), w.c1.view());
  join_gradient(p, dres, w.c1b.view());
}

}  // namespace rm
