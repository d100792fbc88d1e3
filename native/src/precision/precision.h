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

#include "../core/math.h"

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

// The 16-bit encodings, for data that travels or is stored in bf16/fp16. *_bits expects a value
// already rounded to the type (round_to_bf16 / round_to_fp16).
RM_HD uint16_t bf16_bits(float rounded) { return uint16_t(float_bits(rounded) >> 16); }
RM_HD float bf16_value(uint16_t h) { return bits_float(uint32_t(h) << 16); }
// bf16_bits(round_to_bf16(x)) without branches, so loops over it vectorise: nearest, ties to
// even; a NaN stays a (quiet) NaN.
RM_HD uint16_t bf16_bits_rounded(float x) {
  uint32_t b = float_bits(x);
  uint32_t rounded = b + 0x7fffu + ((b >> 16) & 1u), nan = b | 0x400000u;
  return uint16_t((x != x ? nan : rounded) >> 16);  // one select before the narrowing: vectorises best
}

RM_HD uint16_t fp16_bits(float rounded) {
  uint32_t b = float_bits(rounded);
  uint16_t sign = uint16_t((b >> 16) & 0x8000u);
  float a = fabsf(rounded);
  if (a != a) return uint16_t(sign | 0x7e00u);
  if (a == INFINITY) return uint16_t(sign | 0x7c00u);
  if (a < kHalfMinNormal) return uint16_t(sign | uint16_t(a * 16777216.0f));  // subnormal: a multiple of 2⁻²⁴
  uint32_t exponent = ((b >> 23) & 0xffu) - 127u + 15u;
  return uint16_t(sign | (exponent << 10) | ((b >> 13) & 0x3ffu));
}

RM_HD float fp16_value(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16, exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 0) return copysignf(float(mantissa) * (1.0f / 16777216.0f), sign ? -1.0f : 1.0f);
  if (exponent == 31) return bits_float(sign | 0x7f800000u | (mantissa << 13));
  return bits_float(sign | ((exponent - 15u + 127u) << 23) | (mantissa << 13));
}

// An activation buffer as element-wise and row-wise kernels see it on either device: fp32 values,
// or bf16 / fp16 encodings (`type`), read as fp32 and written rounded to nearest, ties to even.
// The type is a run-time value, the same for every thread of a launch (a uniform branch).
struct Elements {
  void* data = nullptr;
  Precision type = Precision::F32;
  Elements() = default;
  RM_HD Elements(void* p, Precision t) : data(p), type(t) {}
  RM_HD Elements(float* p) : data(p) {}  // NOLINT: fp32 values
  RM_HD Elements(const float* p) : data(const_cast<float*>(p)) {}  // NOLINT: fp32 values, read
  RM_HD float get(size_t i) const {
    if (type == Precision::F32) return static_cast<const float*>(data)[i];
    uint16_t h = static_cast<const uint16_t*>(data)[i];
    return type == Precision::BF16 ? bf16_value(h) : fp16_value(h);
  }
  RM_HD void set(size_t i, float v) const {
    if (type == Precision::F32) static_cast<float*>(data)[i] = v;
    else static_cast<uint16_t*>(data)[i] = type == Precision::BF16 ? bf16_bits_rounded(v) : fp16_bits(round_to_fp16(v));
  }
  RM_HD Elements at(size_t i) const {
    return {static_cast<char*>(data) + i * (type == Precision::F32 ? 4 : 2), type};
  }
  RM_HD explicit operator bool() const { return data != nullptr; }
};

// x[n] ← x rounded to p (nothing for F32), across the calling rank's compute threads.
void round_to(Precision p, float* x, size_t n);
// dst[n] ← src rounded to p.
void copy_rounded(Precision p, float* dst, const float* src, size_t n);
// dst[n] ← the bf16 encodings of src rounded to nearest (exact for values already rounded to
// bf16), across the calling rank's compute threads: the inputs of the bf16 matrix kernels.
void pack_bf16(uint16_t* dst, const float* src, size_t n);

}  // namespace rm
