#include "activation.h"

namespace rm {

ActivationModule::ActivationModule(const Scope& scope, SampleShape in, size_t max_batch, Activation act)
    : name_(scope.path()), shape_(in), act_(act), out_(scope.activation({max_batch, in.size()})) {}

ConstView ActivationModule::forward(const Pass& p, ConstView in_view) {
  const float* in = in_view.f32();
  auto timer = p.forward_scope(name_, 0.0, out_.numel() * sizeof(float));
  in_ = in;
  size_t n = p.B * shape_.size();
  if (act_ == Activation::Relu) {
    p.k.relu_forward(out_.f32(), in, n);  // a rounded input stays rounded
  } else {
    p.k.gelu_forward(out_.f32(), in, n);
    p.round(out_.f32(), n);
  }
  return out_.f32();
}

void ActivationModule::backward(const Pass& p, View din_view, ConstView dout_view) {
  float* din = din_view.f32();
  const float* dout = dout_view.f32();
  if (din == nullptr) return;
  auto timer = p.backward_scope(name_, 0.0);
  size_t n = p.B * shape_.size();
  if (act_ == Activation::Relu) {
    p.k.relu_backward(din, dout, out_.f32(), n);
  } else {
    p.k.gelu_backward(din, dout, in_, n);
    p.round(din, n);
  }
}

}  // namespace rm
