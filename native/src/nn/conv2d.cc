#include "conv2d.h"


namespace rm {

Conv2dModule::Conv2dModule(const Scope& scope, SampleShape in, size_t out_channels, size_t max_batch, FusedRelu relu)
    : name_(scope.path()), IC_(in.c), OC_(out_channels), H_(in.h), W_(in.w), relu_(relu),
      out_(scope.activation({max_batch, in.h, in.w, out_channels})) {
  weight = scope.param("weight", {OC_, IC_, 3, 3});
  bias = scope.param("bias", {OC_});
  if (relu == FusedRelu::Here) masked_ = scope.activation({max_batch, in.h, in.w, out_channels});
}

void Conv2dModule::init(Parameters& params, Rng& rng) const { init_torch_uniform(params, rng, IC_ * 9, {weight, bias}); }

ConstView Conv2dModule::forward(const Pass& p, ConstView in_view) {
  const float* in = in_view.f32();
  auto timer = p.forward_scope(name_, forward_flops(p.B), out_.numel() * sizeof(float));
  in_ = in;
  Epilogue e = relu_ == FusedRelu::None ? Epilogue::None : Epilogue::Relu;
  p.k.conv2d_forward(out_.f32(), in, p.weight(weight), p.weight(bias), p.B, H_, W_, IC_, OC_, e);
  p.round(out_.f32(), p.B * H_ * W_ * OC_);
  return out_.f32();
}

void Conv2dModule::backward(const Pass& p, View din_view, ConstView dout_view) {
  float* din = din_view.f32();
  const float* dout = dout_view.f32();
  auto timer = p.backward_scope(name_, (din ? 2.0 : 1.0) * forward_flops(p.B));
  if (relu_ == FusedRelu::Here) {
    p.k.relu_backward(masked_.f32(), dout, out_.f32(), p.B * H_ * W_ * OC_);
    dout = masked_.f32();
  }
  auto w = p.grads->target(weight), b = p.grads->target(bias);
  p.k.conv2d_backward(din, w.data, b.data, dout, in_, p.weight(weight), p.B, H_, W_, IC_, OC_, w.accumulate);
  p.grads->commit(weight);
  p.grads->commit(bias);
  if (din) p.round(din, p.B * H_ * W_ * IC_);
}

}  // namespace rm
