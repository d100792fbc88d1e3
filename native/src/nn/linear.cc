#include "linear.h"

#include <algorithm>

namespace rm {

LinearModule::LinearModule(const Scope& scope, size_t in, size_t out, bool has_bias, size_t max_rows, FusedRelu relu)
    : name_(scope.path()), IN_(in), OUT_(out), relu_(relu), out_(scope.activation({max_rows, out})) {
  weight = scope.param("weight", {out, in});
  if (has_bias) bias = scope.param("bias", {out});
  if (relu == FusedRelu::Here) masked_ = scope.activation({max_rows, out});
}

void LinearModule::init(Parameters& params, Rng& rng, float std) const {
  float* w = params.host_values() + weight.offset;
  for (size_t i = 0; i < weight.count; ++i) w[i] = rng.normal(0.0f, std);
  if (bias.present()) std::fill_n(params.host_values() + bias.offset, bias.count, 0.0f);
}

void LinearModule::init(Parameters& params, Rng& rng) const { init_torch_uniform(params, rng, IN_, {weight, bias}); }

ConstView LinearModule::forward(const Pass& p, ConstView in) {
  auto timer = p.forward_scope(name_, forward_flops(p.N), out_.numel() * dtype_size(out_.dtype()));
  in_ = in;
  Epilogue e = relu_ == FusedRelu::None ? Epilogue::None : Epilogue::Relu;
  p.k.matmul_forward(out_.view(), in, p.weight(weight), p.weight(bias), p.N, IN_, OUT_, e);
  p.round(out_.view(), p.N * OUT_);
  return out_.view();
}

// In bf16 and fp16, GELU takes the product before its rounding, as a fused epilogue does (the
// device never stores it between the two); the aux kept for backward is rounded as stored values are.
ConstView LinearModule::forward_gelu(const Pass& p, ConstView in, View activated) {
  auto timer = p.forward_scope(name_, forward_flops(p.N), 2 * out_.numel() * dtype_size(out_.dtype()));
  in_ = in;
  p.k.matmul_gelu_forward(activated, out_.view(), in, p.weight(weight), p.weight(bias), p.N, IN_, OUT_);
  p.round(out_.view(), p.N * OUT_);
  p.round(activated, p.N * OUT_);
  return activated;
}

void LinearModule::backward(const Pass& p, View din, ConstView dout) { backward_through_gelu(p, din, dout, nullptr); }

void LinearModule::backward_through_gelu(const Pass& p, View din, ConstView dout, ConstView gelu_aux) {
  auto timer = p.backward_scope(name_, (din ? 2.0 : 1.0) * forward_flops(p.N));
  if (relu_ == FusedRelu::Here) {
    p.k.relu_backward(masked_.f32(), dout.f32(), out_.f32(), p.N * OUT_);
    dout = masked_.f32();
  }
  LinearGradients* strategy = p.linear_gradients;
  if (strategy && strategy->takes(weight.offset)) {
    backward_through(p, *strategy, din, dout, gelu_aux);
  } else {
    auto w = p.grads->target(weight), b = p.grads->target(bias);
    // One accumulate flag covers both: they are always written together.
    p.k.matmul_backward(gelu_aux ? View() : din, w.data, b.data, dout, in_, p.weight(weight), p.N, IN_, OUT_, w.accumulate);
    if (gelu_aux) input_gradient(p, din, dout, gelu_aux);
    p.grads->commit(weight);
    p.grads->commit(bias);
  }
  if (din) p.round(din, p.N * IN_);
}

void LinearModule::input_gradient(const Pass& p, View din, ConstView dout, ConstView gelu_aux) const {
  if (!din) return;
  if (gelu_aux) p.k.matmul_gelu_backward_data(din, dout, p.weight(weight), gelu_aux, p.N, IN_, OUT_);
  else p.k.matmul_backward(din, nullptr, nullptr, dout, in_, p.weight(weight), p.N, IN_, OUT_, false);
}

// Sufficient factors run on fp32 activations (the sequential models', whose activations are fp32).
void LinearModule::backward_through(const Pass& p, LinearGradients& strategy, View din, ConstView dout, ConstView gelu_aux) {
  strategy.begin(weight.offset, in_.f32(), dout.f32(), p.N);
  input_gradient(p, din, dout, gelu_aux);
  auto w = p.grads->target(weight), b = p.grads->target(bias);
  Range rows = strategy.finish(weight.offset, p.k, w.data, b.data, w.accumulate);
  p.grads->commit(weight, rows.begin * IN_, rows.end * IN_);
  p.grads->commit(bias, rows.begin, rows.end);
}

}  // namespace rm
