// Reference max-pool (2×2, stride 2) and flatten, channels-last, one element at a time.
#include <algorithm>

#include "../../core/math.h"
#include "reference_kernels.h"

namespace rm {

// Index of the input element at window tap k (row-major: 0 1 / 2 3) of output (b, oy, ox, c).
static size_t tap(size_t k, size_t b, size_t oy, size_t ox, size_t c, size_t H, size_t W, size_t C) {
  size_t y = 2 * oy + k / 2, x = 2 * ox + k % 2;
  return ((b * H + y) * W + x) * C + c;
}

void ReferenceKernels::maxpool2d_forward(float* out, const float* in, size_t B, size_t H, size_t W, size_t C) {
  size_t OH = H / 2, OW = W / 2;
  for (size_t b = 0; b < B; ++b)
    for (size_t oy = 0; oy < OH; ++oy)
      for (size_t ox = 0; ox < OW; ++ox)
        for (size_t c = 0; c < C; ++c) {
          float m = in[tap(0, b, oy, ox, c, H, W, C)];
          for (size_t k = 1; k < 4; ++k) m = std::max(m, in[tap(k, b, oy, ox, c, H, W, C)]);
          out[((b * OH + oy) * OW + ox) * C + c] = m;
        }
}

void ReferenceKernels::maxpool2d_backward(float* din, const float* dout, const float* in, const float* out, size_t B,
                                          size_t H, size_t W, size_t C, bool relu_input) {
  size_t OH = H / 2, OW = W / 2;
  for (size_t b = 0; b < B; ++b)
    for (size_t oy = 0; oy < OH; ++oy)
      for (size_t ox = 0; ox < OW; ++ox)
        for (size_t c = 0; c < C; ++c) {
          size_t o = ((b * OH + oy) * OW + ox) * C + c;
          float taps[4], grads[4];
          for (size_t k = 0; k < 4; ++k) taps[k] = in[tap(k, b, oy, ox, c, H, W, C)];
          maxpool_window_grad(grads, taps, out[o], dout[o], relu_input);
          for (size_t k = 0; k < 4; ++k) din[tap(k, b, oy, ox, c, H, W, C)] = grads[k];
        }
  // Inputs outside every window (the last row or column of an odd height or width): no gradient.
  for (size_t b = 0; b < B; ++b)
    for (size_t y = 0; y < H; ++y)
      for (size_t x = 0; x < W; ++x)
        if (y >= 2 * OH || x >= 2 * OW)
          for (size_t c = 0; c < C; ++c) din[((b * H + y) * W + x) * C + c] = 0.0f;
}

void ReferenceKernels::flatten_forward(float* out, const float* in, size_t B, size_t HW, size_t C) {
  for (size_t b = 0; b < B; ++b)
    for (size_t p = 0; p < HW; ++p)
      for (size_t c = 0; c < C; ++c) out[(b * C + c) * HW + p] = in[(b * HW + p) * C + c];
}

void ReferenceKernels::flatten_backward(float* din, const float* dout, size_t B, size_t HW, size_t C) {
  for (size_t b = 0; b < B; ++b)
    for (size_t p = 0; p < HW; ++p)
      for (size_t c = 0; c < C; ++c) din[(b * HW + p) * C + c] = dout[(b * C + c) * HW + p];
}

}  // namespace rm
