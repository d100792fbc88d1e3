// Activation elements on the CPU fast path: fp32 values, or bf16 encodings read as fp32 and
// written rounded to nearest, ties to even (branch-free, so loops over them vectorise). Kernels
// templated on their element types read and write both; typed() picks the instance for a view.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "../../core/view.h"
#include "../../precision/precision.h"

namespace rm {

inline float load(float x) { return x; }
inline float load(uint16_t bf16) { return bf16_value(bf16); }
inline void store(float& dst, float value) { dst = value; }
inline void store(uint16_t& dst, float value) { dst = bf16_bits_rounded(value); }

// Loops that mix 16-bit and fp32 elements around heavy math (GELU's exp) vectorise only in fp32
// (GCC 12 finds no vector type for both widths in one loop): they run over fp32 blocks of
// kBlock elements, widening and narrowing in loops of their own.
constexpr size_t kBlock = 256;
template <class T>
inline void widen(float* dst, const T* src, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = load(src[i]);
}
template <class T>
inline void narrow(T* dst, const float* src, size_t n) {
  for (size_t i = 0; i < n; ++i) store(dst[i], src[i]);
}

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
