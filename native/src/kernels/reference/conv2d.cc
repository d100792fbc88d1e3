// Reference 3×3 convolution (stride 1, padding 1), channels-last activations, torch's
// [OC, IC, 3, 3] weights; sums in double.
#include <vector>

#include "../../core/math.h"
#include "reference_kernels.h"

namespace rm {

constexpr size_t K = 3;

// Calls f(oy, ox, iy, ix, kh, kw) for every in-bounds tap of the padded 3×3 window.
template <class F>
static void for_each_tap(size_t H, size_t W, F&& f) {
  for (size_t oy = 0; oy < H; ++oy)
    for (size_t ox = 0; ox < W; ++ox)
      for (size_t kh = 0; kh < K; ++kh)
        for (size_t kw = 0; kw < K; ++kw) {
          long iy = long(oy + kh) - 1, ix = long(ox + kw) - 1;
          if (iy < 0 || ix < 0 || iy >= long(H) || ix >= long(W)) continue;
          f(oy, ox, size_t(iy), size_t(ix), kh, kw);
        }
}

void ReferenceKernels::conv2d_forward(float* out, const float* in, const float* weight, const float* bias, size_t B,
                                      size_t H, size_t W, size_t IC, size_t OC, Epilogue epilogue) {
  std::vector<double> acc(H * W * OC);
  for (size_t b = 0; b < B; ++b) {
    const float* x = in + b * H * W * IC;
    for (size_t p = 0; p < H * W; ++p)
      for (size_t oc = 0; oc < OC; ++oc) acc[p * OC + oc] = bias ? bias[oc] : 0.0;
    for_each_tap(H, W, [&](size_t oy, size_t ox, size_t iy, size_t ix, size_t kh, size_t kw) {
      for (size_t oc = 0; oc < OC; ++oc)
        for (size_t ic = 0; ic < IC; ++ic)
          acc[(oy * W + ox) * OC + oc] += double(x[(iy * W + ix) * IC + ic]) * weight[((oc * IC + ic) * K + kh) * K + kw];
    });
    for (size_t k = 0; k < H * W * OC; ++k)
      out[b * H * W * OC + k] = epilogue == Epilogue::Relu ? relu(float(acc[k])) : float(acc[k]);
  }
}

void ReferenceKernels::conv2d_backward(float* din, float* dweight, float* dbias, const float* dout, const float* in,
                                       const float* weight, size_t B, size_t H, size_t W, size_t IC, size_t OC,
                                       bool accumulate) {
  std::vector<double> dw(OC * IC * K * K, 0.0), db(OC, 0.0), dx(H * W * IC);
  for (size_t b = 0; b < B; ++b) {
    const float* x = in + b * H * W * IC;
    const float* g = dout + b * H * W * OC;
    std::fill(dx.begin(), dx.end(), 0.0);
    for (size_t p = 0; p < H * W; ++p)
      for (size_t oc = 0; oc < OC; ++oc) db[oc] += g[p * OC + oc];
    for_each_tap(H, W, [&](size_t oy, size_t ox, size_t iy, size_t ix, size_t kh, size_t kw) {
      for (size_t oc = 0; oc < OC; ++oc) {
        double go = g[(oy * W + ox) * OC + oc];
        for (size_t ic = 0; ic < IC; ++ic) {
          size_t wi = ((oc * IC + ic) * K + kh) * K + kw;
          dw[wi] += go * x[(iy * W + ix) * IC + ic];
          dx[(iy * W + ix) * IC + ic] += go * weight[wi];
        }
      }
    });
    if (din != nullptr)
      for (size_t k = 0; k < H * W * IC; ++k) din[b * H * W * IC + k] = float(dx[k]);
  }
  if (dweight)
    for (size_t k = 0; k < dw.size(); ++k) dweight[k] = float(dw[k]) + (accumulate ? dweight[k] : 0.0f);
  if (dbias)
    for (size_t k = 0; k < OC; ++k) dbias[k] = float(db[k]) + (accumulate ? dbias[k] : 0.0f);
}

}  // namespace rm
