#include "mlp.h"

namespace rm {

Mlp::Mlp(const Scope& scope, size_t C, bool bias, size_t max_rows)
    : c_fc_(scope.child("c_fc"), C, 4 * C, bias, max_rows), c_proj_(scope.child("c_proj"), 4 * C, C, bias, max_rows),
      h_(scope.activation({max_rows, 4 * C})) {}

void Mlp::init(Parameters& params, Rng& rng, float std, float proj_std) const {
  c_fc_.init(params, rng, std);
  c_proj_.init(params, rng, proj_std);
}

// GELU goes with the products around it: after c_fc's in its forward, and into c_proj's input
// gradient in its backward (fused on a GPU: cuBLASLt's GELU and DGELU epilogues).
ConstView Mlp::forward(const Pass& p, ConstView x) {
  return c_proj_.forward(p, c_fc_.forward_gelu(p, x, h_.view()));
}

void Mlp::backward(const Pass& p, View din, ConstView dout, BlockWorkspace& w) {
  View dx = w.c4.view();  // the gradient of c_fc's product
  c_proj_.backward_through_gelu(p, dx, dout, c_fc_.output());
  c_fc_.backward(p, din, dx);
}

}  // namespace rm
