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

void Parameters::allocate(Precision precision) {
  precision_ = precision;
  own_values_ = FloatBuffer(count_);
  own_grads_ = FloatBuffer(count_);
  values_ = own_values_.data();
  grads_ = own_grads_.data();
  if (precision != Precision::F32) {
    own_compute_ = FloatBuffer(count_);
    compute_ = own_compute_.data();
  }
  allocated_ = true;
}

void Parameters::refresh_compute(const std::vector<Range>& changed) {
  if (precision_ == Precision::F32) return;
  for (Range r : changed) copy_rounded(precision_, compute_ + r.begin, values_ + r.begin, r.end - r.begin);
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
  own_values_ = FloatBuffer();
}

void Parameters::use_grad_buffer(float* external) {
  std::memcpy(external, grads_, count_ * sizeof(float));
  grads_ = external;
  own_grads_ = FloatBuffer();
}

void Parameters::use_compute_buffer(float* external) {
  if (precision_ == Precision::F32) return;
  compute_ = external;
  own_compute_ = FloatBuffer();
}

}  // namespace rm
