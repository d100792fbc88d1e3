// Max-pool (2×2, stride 2) and flatten, channels-last: loops vectorised along the channels and
// split across threads by sample.
#include <algorithm>

#include "../../core/parallel.h"
#include "cpu_kernels.h"

namespace rm {

#define RM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

// Samples [b0, b1): each output pixel's C channels from its window's four taps.
RM_CLONES static void maxpool_samples(float* out, const float* in, size_t b0, size_t b1, size_t H, size_t W, size_t C) {
  size_t OH = H / 2, OW = W / 2;
  for (size_t b = b0; b < b1; ++b)
    for (size_t oy = 0; oy < OH; ++oy)
      for (size_t ox = 0; ox < OW; ++ox) {
        const float* t0 = in + ((b * H + 2 * oy) * W + 2 * ox) * C;
        const float* t1 = t0 + C;
        const float* t2 = t0 + W * C;
        const float* t3 = t2 + C;
        float* o = out + ((b * OH + oy) * OW + ox) * C;
        for (size_t c = 0; c < C; ++c) o[c] = std::max(std::max(t0[c], t1[c]), std::max(t2[c], t3[c]));
      }
}

// One window's C channels: the first tap equal to the maximum receives the gradient, the others
// 0. Separate restrict pointers let the compiler vectorise the selects along C.
static inline void window_backward(float* __restrict d0, float* __restrict d1, float* __restrict d2,
                                   float* __restrict d3, const float* __restrict t0, const float* __restrict t1,
                                   const float* __restrict t2, const float* __restrict o, const float* __restrict g,
                                   size_t C, bool relu_input) {
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

// Windows tile the input exactly (H, W even), so every din element is written once.
RM_CLONES static void maxpool_backward_samples(float* din, const float* dout, const float* in, const float* out,
                                               size_t b0, size_t b1, size_t H, size_t W, size_t C, bool relu_input) {
  size_t OH = H / 2, OW = W / 2;
  for (size_t b = b0; b < b1; ++b) {
    for (size_t oy = 0; oy < OH; ++oy)
      for (size_t ox = 0; ox < OW; ++ox) {
        size_t top = ((b * H + 2 * oy) * W + 2 * ox) * C, bottom = top + W * C;
        size_t o = ((b * OH + oy) * OW + ox) * C;
        window_backward(din + top, din + top + C, din + bottom, din + bottom + C, in + top, in + top + C, in + bottom,
                        out + o, dout + o, C, relu_input);
      }
    // The last row and column an odd height or width leaves outside every window get no gradient.
    if (W % 2)
      for (size_t y = 0; y < H; ++y) std::fill_n(din + ((b * H + y) * W + W - 1) * C, C, 0.0f);
    if (H % 2) std::fill_n(din + (b * H + H - 1) * W * C, W * C, 0.0f);
  }
}

#undef RM_CLONES

void CpuKernels::maxpool2d_forward(float* out, const float* in, size_t B, size_t H, size_t W, size_t C) {
  parallel_for(B, 1, [&](size_t b0, size_t b1) { maxpool_samples(out, in, b0, b1, H, W, C); });
}

void CpuKernels::maxpool2d_backward(float* din, const float* dout, const float* in, const float* out, size_t B,
                                    size_t H, size_t W, size_t C, bool relu_input) {
  parallel_for(B, 1, [&](size_t b0, size_t b1) { maxpool_backward_samples(din, dout, in, out, b0, b1, H, W, C, relu_input); });
}

// Samples [b0, b1) between channels-last [HW, C] and channels-first [C, HW]; `to_chw` picks the way.
static void transpose_samples(float* dst, const float* src, size_t b0, size_t b1, size_t HW, size_t C, bool to_chw) {
  for (size_t b = b0; b < b1; ++b) {
    const float* x = src + b * HW * C;
    float* y = dst + b * HW * C;
    for (size_t p = 0; p < HW; ++p)
      for (size_t c = 0; c < C; ++c) {
        if (to_chw) y[c * HW + p] = x[p * C + c];
        else y[p * C + c] = x[c * HW + p];
      }
  }
}

void CpuKernels::flatten_forward(float* out, const float* in, size_t B, size_t HW, size_t C) {
  parallel_for(B, 1, [&](size_t b0, size_t b1) { transpose_samples(out, in, b0, b1, HW, C, true); });
}

void CpuKernels::flatten_backward(float* din, const float* dout, size_t B, size_t HW, size_t C) {
  parallel_for(B, 1, [&](size_t b0, size_t b1) { transpose_samples(din, dout, b0, b1, HW, C, false); });
}

}  // namespace rm
