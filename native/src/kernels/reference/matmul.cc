// Reference matmul (a Linear applied to every row): out[N, OUT] = in[N, IN] · weight[OUT, IN]ᵀ + bias.
#include "../../core/math.h"
#include "reference_kernels.h"

namespace rm {

void ReferenceKernels::matmul_forward(View out_v, ConstView in_v, const float* weight, const float* bias, size_t N,
                                      size_t IN, size_t OUT, Epilogue epilogue) {
  float* out = out_v.f32();
  const float* in = in_v.f32();
  for (size_t n = 0; n < N; ++n)
    for (size_t o = 0; o < OUT; ++o) {
      double acc = bias ? bias[o] : 0.0;
      for (size_t i = 0; i < IN; ++i) acc += double(in[n * IN + i]) * weight[o * IN + i];
      out[n * OUT + o] = epilogue == Epilogue::Relu ? relu(float(acc)) : float(acc);
    }
}

void ReferenceKernels::matmul_backward(View din_v, float* dweight, float* dbias, ConstView dout_v, ConstView in_v,
                                       const float* weight, size_t N, size_t IN, size_t OUT, bool accumulate) {
  float* din = din_v.f32();
  const float* dout = dout_v.f32();
  const float* in = in_v.f32();
  if (dweight || dbias) matmul_weight_rows(dweight, dbias, dout, in, N, IN, OUT, 0, OUT, accumulate);
  if (din == nullptr) return;
  for (size_t n = 0; n < N; ++n)
    for (size_t i = 0; i < IN; ++i) {
      double acc = 0;
      for (size_t o = 0; o < OUT; ++o) acc += double(dout[n * OUT + o]) * weight[o * IN + i];
      din[n * IN + i] = float(acc);
    }
}

void ReferenceKernels::matmul_weight_rows(float* dweight, float* dbias, const float* dout, const float* in, size_t N,
                                          size_t IN, size_t OUT, size_t r0, size_t r1, bool accumulate) {
  for (size_t o = r0; o < r1; ++o) {
    if (dbias) {
      double db = 0;
      for (size_t n = 0; n < N; ++n) db += dout[n * OUT + o];
      dbias[o] = float(db) + (accumulate ? dbias[o] : 0.0f);
    }
    for (size_t i = 0; dweight && i < IN; ++i) {
      double dw = 0;
      for (size_t n = 0; n < N; ++n) dw += double(dout[n * OUT + o]) * in[n * IN + i];
      dweight[o * IN + i] = float(dw) + (accumulate ? dweight[o * IN + i] : 0.0f);
    }
  }
}

}  // namespace rm
