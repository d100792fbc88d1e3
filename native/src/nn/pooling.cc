#include "pooling.h"

namespace rm {

MaxPool2dModule::MaxPool2dModule(const Scope& scope, SampleShape in, size_t max_batch, bool relu_input)
    : name_(scope.path()), in_(in), relu_input_(relu_input), out_(scope.activation({max_batch, in.size() / 4})) {
  RM_CHECK(in.h % 2 == 0 && in.w % 2 == 0, "INVALID_ARGUMENT",
           "maxpool2d needs an even input height and width, got " + std::to_string(in.h) + "×" + std::to_string(in.w));
}

ConstView MaxPool2dModule::forward(const Pass& p, ConstView in_view) {
  const float* in = in_view.f32();
  auto timer = p.forward_scope(name_, 0.0, out_.numel() * sizeof(float));
  input_ = in;
  p.k.maxpool2d_forward(out_.f32(), in, p.B, in_.h, in_.w, in_.c);
  return out_.f32();
}

void MaxPool2dModule::backward(const Pass& p, View din_view, ConstView dout_view) {
  float* din = din_view.f32();
  const float* dout = dout_view.f32();
  if (din == nullptr) return;
  auto timer = p.backward_scope(name_, 0.0);
  p.k.maxpool2d_backward(din, dout, input_, out_.f32(), p.B, in_.h, in_.w, in_.c, relu_input_);
}

FlattenModule::FlattenModule(const Scope& scope, SampleShape in, size_t max_batch)
    : name_(scope.path()), in_(in), out_(scope.activation({max_batch, in.size()})) {}

ConstView FlattenModule::forward(const Pass& p, ConstView in_view) {
  const float* in = in_view.f32();
  auto timer = p.forward_scope(name_, 0.0, out_.numel() * sizeof(float));
  p.k.flatten_forward(out_.f32(), in, p.B, in_.h * in_.w, in_.c);
  return out_.f32();
}

void FlattenModule::backward(const Pass& p, View din_view, ConstView dout_view) {
  float* din = din_view.f32();
  const float* dout = dout_view.f32();
  if (din == nullptr) return;
  auto timer = p.backward_scope(name_, 0.0);
  p.k.flatten_backward(din, dout, p.B, in_.h * in_.w, in_.c);
}

}  // namespace rm
