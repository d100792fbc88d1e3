#include "flatten.h"

#include "../core/parallel.h"

namespace rm {

// Moves samples [b0, b1) between channels-last and channel-first order; `to_chw` picks the way.
static void transpose_samples(float* dst, const float* src, SampleShape s, size_t b0, size_t b1, bool to_chw) {
  size_t HW = s.h * s.w, C = s.c;
  for (size_t b = b0; b < b1; ++b) {
    const float* x = src + b * s.size();
    float* y = dst + b * s.size();
    for (size_t p = 0; p < HW; ++p)
      for (size_t c = 0; c < C; ++c) {
        if (to_chw) y[c * HW + p] = x[p * C + c];
        else y[p * C + c] = x[c * HW + p];
      }
  }
}

void Flatten::forward(float* out, const float* in, const float* /*params*/, size_t B) {
  if (impl_ == Impl::Reference) return transpose_samples(out, in, in_, 0, B, true);
  parallel_for(B, 1, [&](size_t b0, size_t b1) { transpose_samples(out, in, in_, b0, b1, true); });
}

void Flatten::backward(float* din, float* /*dparams*/, const float* dout, const float* /*in*/,
                       const float* /*out*/, const float* /*params*/, size_t B, bool /*accumulate*/) {
  if (din == nullptr) return;
  if (impl_ == Impl::Reference) return transpose_samples(din, dout, in_, 0, B, false);
  parallel_for(B, 1, [&](size_t b0, size_t b1) { transpose_samples(din, dout, in_, b0, b1, false); });
}

}  // namespace rm
