#include "precision.h"

#include "../core/common.h"
#include "../core/parallel.h"
#include "bf16_convert.h"

namespace rm {

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::F32;
  if (name == "bf16") return Precision::BF16;
  if (name == "fp16") return Precision::F16;
  throw NativeError("INVALID_ARGUMENT", "unknown precision \"" + name + "\" (fp32, bf16 or fp16)");
}

__attribute__((target_clones("avx512f", "avx2", "default")))
static void round_chunk_fp16(float* dst, const float* src, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = round_to_fp16(src[i]);
}

constexpr size_t kGrain = 1 << 16;

void copy_rounded(Precision p, float* dst, const float* src, size_t n) {
  if (p == Precision::F32) {
    if (dst != src) std::memcpy(dst, src, n * sizeof(float));
    return;
  }
  parallel_for(n, kGrain, [&](size_t b, size_t e) {
    if (p == Precision::BF16) bf16_round(dst + b, src + b, e - b);
    else round_chunk_fp16(dst + b, src + b, e - b);
  });
}

void round_to(Precision p, float* x, size_t n) { copy_rounded(p, x, x, n); }

void pack_bf16(uint16_t* dst, const float* src, size_t n) {
  parallel_for(n, kGrain, [&](size_t b, size_t e) { bf16_narrow(dst + b, src + b, e - b); });
}

}  // namespace rm
