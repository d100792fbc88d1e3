// Reference LayerNorm over the last dimension: y = (x − μ) / √(σ² + ε) · w + b, σ² biased.
//   backward, with x̂ = (x − μ)·rstd and g = dy·w:  dx = rstd · (g − mean(g) − x̂ · mean(g·x̂))
#include <cmath>

#include "../layernorm_math.h"
#include "reference_kernels.h"

namespace rm {

void ReferenceKernels::layernorm_forward(View out_v, float* mean, float* rstd, ConstView in_v, const float* weight,
                                         const float* bias, size_t N, size_t C) {
  float* out = out_v.f32();
  const float* in = in_v.f32();
  for (size_t n = 0; n < N; ++n) {
    const float* x = in + n * C;
    double m = 0;
    for (size_t c = 0; c < C; ++c) m += x[c];
    m /= double(C);
    double var = 0;
    for (size_t c = 0; c < C; ++c) var += (x[c] - m) * (x[c] - m);
    var /= double(C);
    double s = 1.0 / std::sqrt(var + kLayerNormEps);
    for (size_t c = 0; c < C; ++c) out[n * C + c] = float((x[c] - m) * s * weight[c] + (bias ? bias[c] : 0.0f));
    mean[n] = float(m);
    rstd[n] = float(s);
  }
}

void ReferenceKernels::layernorm_backward(View din_v, float* dweight, float* dbias, ConstView dout_v, ConstView in_v,
                                          const float* weight, const float* mean, const float* rstd, size_t N, size_t C,
                                          bool accumulate) {
  float* din = din_v.f32();
  const float* dout = dout_v.f32();
  const float* in = in_v.f32();
  for (size_t c = 0; c < C; ++c) {
    double dw = 0, db = 0;
    for (size_t n = 0; n < N; ++n) {
      double xhat = (in[n * C + c] - double(mean[n])) * rstd[n];
      dw += dout[n * C + c] * xhat;
      db += dout[n * C + c];
    }
    dweight[c] = float(dw) + (accumulate ? dweight[c] : 0.0f);
    if (dbias) dbias[c] = float(db) + (accumulate ? dbias[c] : 0.0f);
  }
  for (size_t n = 0; n < N; ++n) {
    double g_mean = 0, gx_mean = 0;
    for (size_t c = 0; c < C; ++c) {
      double xhat = (in[n * C + c] - double(mean[n])) * rstd[n];
      double g = double(dout[n * C + c]) * weight[c];
      g_mean += g;
      gx_mean += g * xhat;
    }
    g_mean /= double(C);
    gx_mean /= double(C);
    for (size_t c = 0; c < C; ++c) {
      double xhat = (in[n * C + c] - double(mean[n])) * rstd[n];
      double g = double(dout[n * C + c]) * weight[c];
      din[n * C + c] = float(rstd[n] * (g - g_mean - xhat * gx_mean));
    }
  }
}

}  // namespace rm
