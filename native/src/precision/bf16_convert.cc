#include "bf16_convert.h"

#include <algorithm>

#include "precision.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace rm {
namespace {

constexpr size_t kBlock = 256;  // bf16_round's staging: fp32 → bf16 → fp32 through the stack

__attribute__((target_clones("avx512f", "avx2", "default")))
void narrow_portable(uint16_t* __restrict dst, const float* __restrict src, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = bf16_bits_rounded(src[i]);
}

#if defined(__x86_64__)
// 16 lanes at a time, the tail masked. Lanes holding an fp32 subnormal (|bits| - 1 below the
// smallest normal's bits, so not zero) take bf16_bits_rounded instead: never, in practice.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
inline void narrow16(uint16_t* dst, const float* src, size_t m, __mmask16 lanes) {
  const __m512i magnitude = _mm512_set1_epi32(0x7fffffff), one = _mm512_set1_epi32(1);
  const __m512i smallest_normal = _mm512_set1_epi32(0x00800000 - 1);
  __m512 x = _mm512_maskz_loadu_ps(lanes, src);
  __m512i below = _mm512_sub_epi32(_mm512_and_si512(_mm512_castps_si512(x), magnitude), one);
  __mmask16 subnormal = _mm512_mask_cmplt_epu32_mask(lanes, below, smallest_normal);
  _mm256_mask_storeu_epi16(dst, lanes, (__m256i)_mm512_cvtneps_pbh(x));
  if (subnormal)
    for (size_t j = 0; j < m; ++j) dst[j] = bf16_bits_rounded(src[j]);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
void narrow_avx512bf16(uint16_t* dst, const float* src, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) narrow16(dst + i, src + i, 16, 0xffff);
  if (i < n) narrow16(dst + i, src + i, n - i, __mmask16((1u << (n - i)) - 1));
}
#endif

using Narrow = void (*)(uint16_t*, const float*, size_t);

Narrow pick_narrow() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512bf16")) return narrow_avx512bf16;
#endif
  return narrow_portable;
}

}  // namespace

void bf16_narrow(uint16_t* dst, const float* src, size_t n) {
  static const Narrow narrow = pick_narrow();
  narrow(dst, src, n);
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void bf16_widen(float* __restrict dst, const uint16_t* __restrict src, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = bf16_value(src[i]);
}

void bf16_round(float* dst, const float* src, size_t n) {
  uint16_t bits[kBlock];
  for (size_t i = 0; i < n; i += kBlock) {
    size_t m = std::min(kBlock, n - i);
    bf16_narrow(bits, src + i, m);
    bf16_widen(dst + i, bits, m);
  }
}

}  // namespace rm
