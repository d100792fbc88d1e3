// Errors, checks and owned buffers shared by every native file.
//
// Every failure is a NativeError with a stable code; the N-API boundary turns it into a JS error
// whose `code` property is that string (and whose `missingRanks` lists the ranks a collective
// timed out waiting for, when it knows them). Nothing in the addon calls exit() or aborts.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "device.h"

namespace rm {

class NativeError : public std::runtime_error {
 public:
  NativeError(std::string code, const std::string& message, std::vector<int> missing_ranks = {})
      : std::runtime_error(message), code_(std::move(code)), missing_ranks_(std::move(missing_ranks)) {}
  const std::string& code() const { return code_; }
  // A collective's timeout: the ranks that never arrived, when the waiting side can tell (within a
  // machine it can); empty otherwise.
  const std::vector<int>& missing_ranks() const { return missing_ranks_; }
  // The same error, its message prefixed with where it happened.
  NativeError within(const std::string& where) const { return NativeError(code_, where + what(), missing_ranks_); }

 private:
  std::string code_;
  std::vector<int> missing_ranks_;
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

// A float buffer on the CPU device (core/device.h: aligned, huge pages when large); zero-filled;
// moves, never copies.
class FloatBuffer {
 public:
  FloatBuffer() = default;
  explicit FloatBuffer(size_t n) : data_(static_cast<float*>(cpu_device().allocate(n * sizeof(float))), Free(n)), size_(n) {}
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  struct Free {
    Free() noexcept : n(0) {}
    explicit Free(size_t count) noexcept : n(count) {}
    size_t n;
    void operator()(float* p) const { cpu_device().release(p, n * sizeof(float)); }
  };
  std::unique_ptr<float, Free> data_;
  size_t size_ = 0;
};

}  // namespace rm
