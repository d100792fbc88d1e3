// A tensor: a shape and a dtype over memory a device owns. Tensors share their storage when
// copied.
// Shapes are written outermost first: (B, T, C) for a sequence of channel vectors, (N, C) for
// rows. Storage is contiguous, row-major.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common.h"
#include "device.h"
#include "dtype.h"
#include "view.h"

namespace rm {

using Shape = std::vector<size_t>;

inline size_t numel(const Shape& s) {
  size_t n = 1;
  for (size_t d : s) n *= d;
  return n;
}

// Memory on one device, released when the last tensor holding it goes.
class Storage {
 public:
  Storage(Device& device, size_t bytes) : device_(device), bytes_(bytes), data_(device.allocate(bytes)) {}
  ~Storage() { device_.release(data_, bytes_); }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  Device& device() const { return device_; }
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  Device& device_;
  size_t bytes_;
  void* data_;
};

class Tensor {
 public:
  Tensor() = default;
  // A new, zero-filled tensor on `device`.
  Tensor(Shape shape, DType dtype, Device& device = cpu_device())
      : storage_(std::make_shared<Storage>(device, rm::numel(shape) * dtype_size(dtype))), shape_(std::move(shape)), dtype_(dtype) {}

  const Shape& shape() const { return shape_; }
  size_t numel() const { return rm::numel(shape_); }
  DType dtype() const { return dtype_; }
  Device& device() const { return storage_->device(); }
  bool defined() const { return storage_ != nullptr; }

  float* f32() const { return typed<float>(DType::F32); }
  int32_t* i32() const { return typed<int32_t>(DType::I32); }
  // Its elements as a kernel's activation argument (fp32 or bf16).
  View view() const { return {storage_ ? storage_->data() : nullptr, dtype_}; }

 private:
  template <class T>
  T* typed(DType want) const {
    RM_CHECK(dtype_ == want, "INTERNAL", std::string("a ") + dtype_name(dtype_) + " tensor read as " + dtype_name(want));
    return static_cast<T*>(storage_->data());
  }
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  DType dtype_ = DType::F32;
};

}  // namespace rm
