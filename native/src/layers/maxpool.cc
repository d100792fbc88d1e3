#include "maxpool.h"

#include <algorithm>

#include "../core/common.h"
#include "../core/parallel.h"

namespace rm {

// The four inputs of output pixel (oy, ox), channel 0, in row-major window order.
static inline void window(const float* in, size_t oy, size_t ox, size_t W, size_t C, const float* taps[4]) {
  const float* row0 = in + ((2 * oy) * W + 2 * ox) * C;
  const float* row1 = row0 + W * C;
  taps[0] = row0;
  taps[1] = row0 + C;
  taps[2] = row1;
  taps[3] = row1 + C;
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void maxpool2d_forward(float* out, const float* in, size_t B, size_t H, size_t W, size_t C) {
  size_t OH = H / 2, OW = W / 2;
  for (size_t b = 0; b < B; ++b)
    for (size_t oy = 0; oy < OH; ++oy)
      for (size_t ox = 0; ox < OW; ++ox) {
        const float* t[4];
        window(in + b * H * W * C, oy, ox, W, C, t);
        float* o = out + ((b * OH + oy) * OW + ox) * C;
        for (size_t c = 0; c < C; ++c) o[c] = std::max(std::max(t[0][c], t[1][c]), std::max(t[2][c], t[3][c]));
      }
}

// One window's C channels: the first tap equal to the maximum receives the gradient, the others
// 0. Separate restrict pointers let the compiler vectorise the selects along C.
static inline void window_backward(float* __restrict d0, float* __restrict d1, float* __restrict d2,
                                   float* __restrict d3, const float* __restrict t0,
                                   const float* __restrict t1, const float* __restrict t2,
                                   const float* __restrict o, const float* __restrict g, size_t C,
                                   bool relu_input) {
  for (size_t c = 0; c < C; ++c) {
    // `left` is the gradient not yet routed: each tap takes it if it holds the maximum.
    float m = o[c], left = relu_input && !(m > 0.0f) ? 0.0f : g[c];
    d0[c] = t0[c] == m ? left : 0.0f;
    left = t0[c] == m ? 0.0f : left;
    d1[c] = t1[c] == m ? left : 0.0f;
    left = t1[c] == m ? 0.0f : left;
    d2[c] = t2[c] == m ? left : 0.0f;
    left = t2[c] == m ? 0.0f : left;
    d3[c] = left;
  }
}

// Windows tile the input exactly (H, W even), so every input element is written once and no
// zeroing pass is needed.
__attribute__((target_clones("avx512f", "avx2", "default")))
void maxpool2d_backward(float* din, const float* dout, const float* in, const float* out, size_t B,
                        size_t H, size_t W, size_t C, bool relu_input) {
  size_t OH = H / 2, OW = W / 2;
  for (size_t b = 0; b < B; ++b)
    for (size_t oy = 0; oy < OH; ++oy)
      for (size_t ox = 0; ox < OW; ++ox) {
        size_t top = ((b * H + 2 * oy) * W + 2 * ox) * C, bottom = top + W * C;
        size_t o = ((b * OH + oy) * OW + ox) * C;
        window_backward(din + top, din + top + C, din + bottom, din + bottom + C, in + top,
                        in + top + C, in + bottom, out + o, dout + o, C, relu_input);
      }
}

MaxPool2d::MaxPool2d(SampleShape in, Impl impl, bool relu_input)
    : in_(in), impl_(impl), relu_input_(relu_input) {
  RM_CHECK(in.h % 2 == 0 && in.w % 2 == 0, "INVALID_ARGUMENT",
           "maxpool2d needs an even input height and width, got " + std::to_string(in.h) + "×" +
               std::to_string(in.w));
}

// Samples are independent, so the fast path splits the batch across threads.
void MaxPool2d::forward(float* out, const float* in, const float* /*params*/, size_t B) {
  size_t isz = in_.size(), osz = output_shape().size();
  if (impl_ == Impl::Reference) return maxpool2d_forward(out, in, B, in_.h, in_.w, in_.c);
  parallel_for(B, 1, [&](size_t b0, size_t b1) {
    maxpool2d_forward(out + b0 * osz, in + b0 * isz, b1 - b0, in_.h, in_.w, in_.c);
  });
}

void MaxPool2d::backward(float* din, float* /*dparams*/, const float* dout, const float* in,
                         const float* out, const float* /*params*/, size_t B, bool /*accumulate*/) {
  if (din == nullptr) return;
  size_t isz = in_.size(), osz = output_shape().size();
  if (impl_ == Impl::Reference) return maxpool2d_backward(din, dout, in, out, B, in_.h, in_.w, in_.c, relu_input_);
  parallel_for(B, 1, [&](size_t b0, size_t b1) {
    maxpool2d_backward(din + b0 * isz, dout + b0 * osz, in + b0 * isz, out + b0 * osz, b1 - b0,
                       in_.h, in_.w, in_.c, relu_input_);
  });
}

}  // namespace rm
