// Activations as kernels see them: a pointer and the element type it holds. Under bf16 precision
// a device whose kernels read and write 16 bits (Kernels::activation_dtype) stores a model's
// activations as bf16 encodings, so producers write the rounded values once and consumers read
// them without a conversion pass; elsewhere they are fp32 (rounded to the precision in place).
// A float* is an fp32 view, so fp32 callers pass their pointers unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include "common.h"
#include "dtype.h"

namespace rm {

namespace view_detail {
[[noreturn]] inline void wrong_type(DType have, DType want) {
  throw NativeError("INTERNAL", std::string("a ") + dtype_name(have) + " activation read as " + dtype_name(want) +
                                    " (this kernel takes " + dtype_name(want) + " activations only)");
}
}  // namespace view_detail

template <class Pointer, class Float, class Half>
class BasicView {
 public:
  BasicView() = default;
  BasicView(Float* p) : data_(p) {}  // NOLINT: an fp32 pointer is an fp32 view
  BasicView(Pointer p, DType dtype) : data_(p), dtype_(dtype) {}
  template <class P, class F, class H, class = std::enable_if_t<std::is_convertible<P, Pointer>::value>>
  BasicView(const BasicView<P, F, H>& other) : data_(other.data()), dtype_(other.dtype()) {}  // NOLINT: mutable → const

  Pointer data() const { return data_; }
  DType dtype() const { return dtype_; }
  bool is_f32() const { return dtype_ == DType::F32; }
  explicit operator bool() const { return data_ != nullptr; }

  Float* f32() const {
    if (data_ && dtype_ != DType::F32) view_detail::wrong_type(dtype_, DType::F32);
    return static_cast<Float*>(data_);
  }
  Half* bf16() const {
    if (data_ && dtype_ != DType::BF16) view_detail::wrong_type(dtype_, DType::BF16);
    return static_cast<Half*>(data_);
  }
  // The view `elements` further on.
  BasicView at(size_t elements) const {
    using Byte = std::conditional_t<std::is_const<Float>::value, const char, char>;
    return {data_ ? static_cast<Pointer>(static_cast<Byte*>(data_) + elements * dtype_size(dtype_)) : data_, dtype_};
  }

 private:
  Pointer data_ = nullptr;
  DType dtype_ = DType::F32;
};

using View = BasicView<void*, float, uint16_t>;
using ConstView = BasicView<const void*, const float, const uint16_t>;

}  // namespace rm
