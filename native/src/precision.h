// Mixed precision: the storage formats a GPU computes in, emulated on fp32 values. A value
// "stored in bf16/fp16" is the fp32 value rounded to the nearest one that format can hold (ties
// to even), so the CPU path has the GPU path's numerics: the same rounding, the same fp16
// underflow and overflow. Scalar forms are host/device functions shared with the CUDA kernels.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "math.h"

namespace rm {

enum class Precision { F32, BF16, F16 };

Precision parse_precision(const std::string& name);  // fp32 | bf16 | fp16

RM_HD uint32_t float_bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

RM_HD float bits_float(uint32_t b) {
  float x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

// Rounds away the low `drop` bits of x's mantissa, ties to even (x finite).
RM_HD float round_mantissa(float x, int drop) {
  uint32_t b = float_bits(x);
  uint32_t half = (1u << (drop - 1)) - 1u;
  b += half + ((b >> drop) & 1u);
  return bits_float(b & ~((1u << drop) - 1u));
}

// bfloat16: fp32's exponent, 7 mantissa bits. Overflow past the largest bf16 rounds to ±inf as
// the carry runs into the exponent; NaN stays NaN.
RM_HD float round_to_bf16(float x) { return x != x ? x : round_mantissa(x, 16); }

// IEEE half: 10 mantissa bits, exponents down to 2⁻¹⁴ (below it subnormals spaced 2⁻²⁴, so the
// smallest nonzero magnitude is 2⁻²⁴ ≈ 6e-8 and anything under half of it becomes 0), largest
// finite 65504 (anything from 65520 up becomes ±inf).
constexpr float kHalfMax = 65504.0f;
constexpr float kHalfMinNormal = 6.103515625e-05f;  // 2⁻¹⁴

RM_HD float round_to_fp16(float x) {
  float subnormal = rintf(x * 16777216.0f) * (1.0f / 16777216.0f);  // multiples of 2⁻²⁴
  float normal = round_mantissa(x, 13);
  float r = fabsf(x) < kHalfMinNormal ? subnormal : normal;
  r = fabsf(r) > kHalfMax ? copysignf(INFINITY, x) : r;
  return x != x ? x : r;
}

// x[n] ← x rounded to p (nothing for F32), across the calling rank's compute threads.
void round_to(Precision p, float* x, size_t n);
// dst[n] ← src rounded to p.
void copy_rounded(Precision p, float* dst, const float* src, size_t n);
// dst[n] += src: a rounded contribution joining its fp32 sum.
void add_into(float* dst, const float* src, size_t n);

}  // namespace rm
