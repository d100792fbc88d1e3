// Activation elements on the CPU fast path: fp32 values, or bf16 encodings read as fp32 and
// written rounded to nearest, ties to even (branch-free, so loops over them vectorise). Kernels
// templated on their element types read and write both; typed() picks the instance for a view.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "../../core/view.h"
#include "../../precision/bf16_convert.h"
#include "../../precision/precision.h"

namespace rm {

inline float load(float x) { return x; }
inline float load(uint16_t bf16) { return bf16_value(bf16); }
inline void store(float& dst, float value) { dst = value; }
inline void store(uint16_t& dst, float value) { dst = bf16_bits_rounded(value); }

// Loops that mix 16-bit and fp32 elements around heavy math (GELU's exp) vectorise only in fp32
// (GCC 12 finds no vector type for both widths in one loop): they run over fp32 blocks of
// kBlock elements, converting in calls of their own. dst[n] ← src in dst's type: copied, widened,
// or narrowed with the CPU's bf16 conversion where it has one (bf16_convert.h).
constexpr size_t kBlock = 256;
inline void convert(float* dst, const float* src, size_t n) { std::memcpy(dst, src, n * sizeof(float)); }
inline void convert(uint16_t* dst, const uint16_t* src, size_t n) { std::memcpy(dst, src, n * sizeof(uint16_t)); }
inline void convert(uint16_t* dst, const float* src, size_t n) { bf16_narrow(dst, src, n); }
inline void convert(float* dst, const uint16_t* src, size_t n) { bf16_widen(dst, src, n); }

// dst[i] ← value(i) for i < n in dst's type: directly for fp32; for bf16 through fp32 blocks
// narrowed in calls of their own (so the loop computing the values vectorises).
template <class Out, class F>
inline void store_elements(Out* dst, size_t n, F&& value) {
  if constexpr (std::is_same<Out, float>::value) {
    for (size_t i = 0; i < n; ++i) dst[i] = value(i);
  } else {
    float block[kBlock];
    for (size_t i0 = 0; i0 < n; i0 += kBlock) {
      size_t m = n - i0 < kBlock ? n - i0 : kBlock;
      for (size_t i = 0; i < m; ++i) block[i] = value(i0 + i);
      convert(dst + i0, block, m);
    }
  }
}

// Rows of C values written in Out's type: fp32 rows in place; bf16 ones computed into an fp32
// stage and narrowed many rows at a time (one conversion call per row cost more than the
// conversion for rows of 128). row(n) is where row n's fp32 values go, rows taken in order;
// done() after writing it.
template <class Out>
class RowWriter {
 public:
  RowWriter(Out* out, size_t C) : out_(out), C_(C) {
    if constexpr (!std::is_same<Out, float>::value) {
      thread_local std::vector<float> stage;
      rows_ = C < kStageFloats ? kStageFloats / C : 1;
      if (stage.size() < rows_ * C) stage.resize(rows_ * C);
      stage_ = stage.data();
    }
  }
  ~RowWriter() { flush(); }
  float* row(size_t n) {
    if constexpr (std::is_same<Out, float>::value) return out_ + n * C_;
    if (staged_ == 0) first_ = n;
    return stage_ + (n - first_) * C_;
  }
  void done() {
    if constexpr (!std::is_same<Out, float>::value)
      if (++staged_ == rows_) flush();
  }

 private:
  static constexpr size_t kStageFloats = 4096;
  void flush() {
    if constexpr (!std::is_same<Out, float>::value) {
      if (staged_) convert(out_ + first_ * C_, stage_, staged_ * C_);
      staged_ = 0;
    }
  }
  Out* out_;
  size_t C_, rows_ = 0, staged_ = 0, first_ = 0;
  float* stage_ = nullptr;
};

// f(pointer), with v's elements as const float* (fp32) or const uint16_t* (bf16).
template <class F>
decltype(auto) typed(ConstView v, F&& f) {
  return v.is_f32() ? std::forward<F>(f)(v.f32()) : std::forward<F>(f)(v.bf16());
}
template <class F>
decltype(auto) typed(View v, F&& f) {
  return v.is_f32() ? std::forward<F>(f)(v.f32()) : std::forward<F>(f)(v.bf16());
}

}  // namespace rm
