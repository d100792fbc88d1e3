#include "linear.h"

namespace rm {

LinearModule::LinearModule(const Scope& scope, size_t in, size_t out, bool has_bias, size_t max_rows)
    : name_(scope.path()), IN_(in), OUT_(out), out_(scope.activation({max_rows, out})) {
  weight = scope.param("weight", {out, in}, true);
  if (has_bias) bias = scope.param("bias", {out}, false);
}

void LinearModule::init(Parameters& params, Rng& rng, float std) const {
  float* w = params.values() + weight.offset;
  for (size_t i = 0; i < weight.count; ++i) w[i] = rng.normal(0.0f, std);
  if (bias.present()) std::fill_n(params.values() + bias.offset, bias.count, 0.0f);
}

const float* LinearModule::forward(const Pass& p, const float* in) {
  auto timer = p.forward_scope(name_, 2.0 * p.N * IN_ * OUT_, out_.numel() * sizeof(float));
  in_ = in;
  p.k.matmul_forward(out_.f32(), in, p.weight(weight), p.weight(bias), p.N, IN_, OUT_);
  p.round(out_.f32(), p.N * OUT_);
  return out_.f32();
}

void LinearModule::backward(const Pass& p, float* din, const float* dout) {
  auto timer = p.backward_scope(name_, (din ? 4.0 : 2.0) * p.N * IN_ * OUT_);
  auto w = p.grads->target(weight), b = p.grads->target(bias);
  // One accumulate flag covers both: they are always written together.
  p.k.matmul_backward(din, w.data, b.data, dout, in_, p.weight(weight), p.N, IN_, OUT_, w.accumulate);
  p.grads->commit(weight);
  p.grads->commit(bias);
  if (din) p.round(din, p.N * IN_);
}

}  // namespace rm
