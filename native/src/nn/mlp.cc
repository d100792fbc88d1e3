#include "mlp.h"

namespace rm {

Mlp::Mlp(const Scope& scope, size_t C, bool bias, size_t max_rows)
    : gelu_name_(scope.path() + ".gelu"), C_(C), c_fc_(scope.child("c_fc"), C, 4 * C, bias, max_rows), c_proj_(scope.child("c_proj"), 4 * C, C, bias, max_rows),
      h_(scope.activation({max_rows, 4 * C})) {}

void Mlp::init(Parameters& params, Rng& rng, float std, float proj_std) const {
  c_fc_.init(params, rng, std);
  c_proj_.init(params, rng, proj_std);
}

const float* Mlp::forward(const Pass& p, const float* x) {
  const float* pre = c_fc_.forward(p, x);
  {
    auto timer = p.forward_scope(gelu_name_, 0.0, h_.numel() * sizeof(float));
    p.k.gelu_forward(h_.f32(), pre, p.N * 4 * C_);
    p.round(h_.f32(), p.N * 4 * C_);
  }
  return c_proj_.forward(p, h_.f32());
}

void Mlp::backward(const Pass& p, float* din, const float* dout, BlockWorkspace& w) {
  float* dh = w.c4a.f32();
  c_proj_.backward(p, dh, dout);
  float* dpre = w.c4b.f32();
  {
    auto timer = p.backward_scope(gelu_name_, 0.0);
    p.k.gelu_backward(dpre, dh, c_fc_.output(), p.N * 4 * C_);
    p.round(dpre, p.N * 4 * C_);
  }
  c_fc_.backward(p, din, dpre);
}

}  // namespace rm
