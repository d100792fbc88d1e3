// Errors, checks and owned buffers shared by every native file.
//
// Every failure is a NativeError with a stable code; the N-API boundary turns it into a JS error
// whose `code` property is that string. Nothing in the addon calls exit() or aborts.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>

#include <sys/mman.h>

namespace rm {

class NativeError : public std::runtime_error {
 public:
  NativeError(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

// A half-open range [begin, end) of elements of a flat buffer.
struct Range {
  size_t begin, end;
};

// Throws NativeError(code, message) when cond is false.
#define RM_CHECK(cond, code, message)                  \
  do {                                                 \
    if (!(cond)) throw ::rm::NativeError(code, message); \
  } while (0)

// A float buffer aligned for AVX-512 loads; zero-initialised; moves, never copies.
class FloatBuffer {
 public:
  FloatBuffer() = default;
  explicit FloatBuffer(size_t n) : size_(n) {
    if (n == 0) return;
    // Buffers of 2 MiB and more (parameters, gradients, optimizer moments, activations) sit on
    // transparent huge pages: the optimizer streams through several of them per step, and 4 KiB
    // pages would cost a TLB miss every 1024 floats.
    size_t align = n * sizeof(float) >= kHugePage ? kHugePage : kAlign;
    size_t bytes = (n * sizeof(float) + align - 1) / align * align;
    void* p = std::aligned_alloc(align, bytes);
    if (p == nullptr) throw NativeError("OUT_OF_MEMORY", "cannot allocate " + std::to_string(bytes) + " bytes");
    if (align == kHugePage) madvise(p, bytes, MADV_HUGEPAGE);  // advice only: failure is harmless
    std::memset(p, 0, bytes);
    data_.reset(static_cast<float*>(p));
  }
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  static constexpr size_t kAlign = 64;
  static constexpr size_t kHugePage = size_t(2) << 20;
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> data_;
  size_t size_ = 0;
};

}  // namespace rm
