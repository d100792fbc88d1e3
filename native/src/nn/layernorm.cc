#include "layernorm.h"

#include <algorithm>

namespace rm {

LayerNormModule::LayerNormModule(const Scope& scope, size_t C, bool has_bias, size_t max_rows)
    : name_(scope.path()), C_(C), out_(scope.activation({max_rows, C})), mean_(scope.fp32({max_rows})), rstd_(scope.fp32({max_rows})) {
  weight = scope.param("weight", {C});
  if (has_bias) bias = scope.param("bias", {C});
}

void LayerNormModule::init(Parameters& params) const {
  std::fill_n(params.host_values() + weight.offset, weight.count, 1.0f);
  if (bias.present()) std::fill_n(params.host_values() + bias.offset, bias.count, 0.0f);
}

ConstView LayerNormModule::forward(const Pass& p, ConstView in) {
  auto timer = p.forward_scope(name_, 8.0 * p.N * C_, out_.numel() * dtype_size(out_.dtype()) + 2 * mean_.numel() * sizeof(float));
  in_ = in;
  p.k.layernorm_forward(out_.view(), mean_.f32(), rstd_.f32(), in, p.weight(weight), p.weight(bias), p.N, C_);
  p.round(out_.view(), p.N * C_);
  return out_.view();
}

void LayerNormModule::backward(const Pass& p, View din, ConstView dout) {
  auto timer = p.backward_scope(name_, 14.0 * p.N * C_);
  auto w = p.grads->target(weight), b = p.grads->target(bias);
  p.k.layernorm_backward(din, w.data, b.data, dout, in_, p.weight(weight), mean_.f32(), rstd_.f32(), p.N, C_,
                         w.accumulate);
  p.grads->commit(weight);
  p.grads->commit(bias);
  p.round(din, p.N * C_);
}

}  // namespace rm
