#include "parameters.h"

#include <cstring>

namespace rm {

size_t Parameters::add(std::string name, Shape shape, bool decay) {
  RM_CHECK(!allocated_, "INTERNAL", "parameter " + name + " registered after the buffers were made");
  size_t n = numel(shape), offset = count_;
  list_.push_back({std::move(name), std::move(shape), offset, n, decay});
  count_ += n;
  return offset;
}

void Parameters::allocate(Precision precision, Device& device) {
  precision_ = precision;
  device_ = &device;
  own_values_ = Tensor({count_}, DType::F32, device);
  own_grads_ = Tensor({count_}, DType::F32, device);
  values_ = own_values_.f32();
  grads_ = own_grads_.f32();
  if (precision != Precision::F32) {
    own_compute_ = Tensor({count_}, DType::F32, device);
    compute_ = own_compute_.f32();
  }
  allocated_ = true;
}

void Parameters::refresh_compute(const std::vector<Range>& changed, Kernels& k) {
  if (precision_ == Precision::F32) return;
  for (Range r : changed) {
    device_->copy(compute_ + r.begin, values_ + r.begin, (r.end - r.begin) * sizeof(float));
    k.round_values(compute_ + r.begin, r.end - r.begin, precision_);
  }
}

float* Parameters::host_values() {
  if (device_->kind() == DeviceKind::Cpu) return values_;
  if (host_values_.size() != count_) host_values_ = FloatBuffer(count_);
  return host_values_.data();
}

void Parameters::upload_host_values() {
  if (device_->kind() == DeviceKind::Cpu) return;
  device_->copy_from_host(values_, host_values_.data(), count_ * sizeof(float));
  host_values_ = FloatBuffer();
}

std::vector<Range> Parameters::no_decay() const {
  std::vector<Range> out;
  for (const auto& p : list_) {
    if (p.decay) continue;
    if (!out.empty() && out.back().end == p.offset) out.back().end += p.count;
    else out.push_back({p.offset, p.offset + p.count});
  }
  return out;
}

void Parameters::use_value_buffer(float* external) {
  values_ = external;
  own_values_ = Tensor();
}

void Parameters::use_grad_buffer(float* external) {
  std::memcpy(external, grads_, count_ * sizeof(float));
  grads_ = external;
  own_grads_ = Tensor();
}

void Parameters::use_compute_buffer(float* external) {
  if (precision_ == Precision::F32) return;
  compute_ = external;
  own_compute_ = Tensor();
}

}  // namespace rm
