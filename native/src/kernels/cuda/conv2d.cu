// 3×3 convolutions (stride 1, padding 1, channels-last) as matrix products over im2col rows:
// row (b, y, x) of col holds the 3×3 window around (y, x) for every input channel, ordered
// (ic, kh, kw) as the weight [OC, IC, 3, 3] flattens, so
//   out[BHW, OC] = col · Wᵀ + bias,   dW (+)= doutᵀ · col,   dcol = dout · W  → din by col2im.
// col2im gathers (each din element sums its 9 taps in a fixed order), so no atomics.
#include "cuda_common.cuh"
#include "cuda_kernels.h"

namespace rm {

namespace {

__global__ void im2col_kernel(float* col, const float* in, size_t B, size_t H, size_t W, size_t IC) {
  size_t K = IC * 9, total = B * H * W * K;
  RM_FOR_EACH(i, total) {
    size_t row = i / K, j = i % K;
    size_t ic = j / 9, kh = (j % 9) / 3, kw = j % 3;
    size_t x = row % W, y = (row / W) % H, b = row / (W * H);
    long yy = long(y) + long(kh) - 1, xx = long(x) + long(kw) - 1;
    bool inside = yy >= 0 && yy < long(H) && xx >= 0 && xx < long(W);
    col[i] = inside ? in[((b * H + size_t(yy)) * W + size_t(xx)) * IC + ic] : 0.0f;
  }
}

__global__ void col2im_kernel(float* din, const float* dcol, size_t B, size_t H, size_t W, size_t IC) {
  size_t K = IC * 9, total = B * H * W * IC;
  RM_FOR_EACH(i, total) {
    size_t ic = i % IC, x = (i / IC) % W, y = (i / (IC * W)) % H, b = i / (IC * W * H);
    float s = 0.0f;
    for (size_t kh = 0; kh < 3; ++kh)
      for (size_t kw = 0; kw < 3; ++kw) {
        // the output position whose window puts tap (kh, kw) on (y, x)
        long oy = long(y) - long(kh) + 1, ox = long(x) - long(kw) + 1;
        if (oy < 0 || oy >= long(H) || ox < 0 || ox >= long(W)) continue;
        size_t row = (b * H + size_t(oy)) * W + size_t(ox);
        s += dcol[row * K + ic * 9 + kh * 3 + kw];
      }
    din[i] = s;
  }
}

}  // namespace

void CudaKernels::conv2d_forward(float* out, const float* in, const float* weight, const float* bias, size_t B, size_t H,
                                 size_t W, size_t IC, size_t OC, Epilogue epilogue) {
  size_t rows = B * H * W, K = IC * 9;
  float* col = scratch(0, rows * K);
  im2col_kernel<<<blocks_for(rows * K), kThreads, 0, stream()>>>(col, in, B, H, W, IC);
  RM_CUDA_LAUNCHED("im2col");
  matmul_forward(out, col, weight, bias, rows, K, OC, epilogue);
}

void CudaKernels::conv2d_backward(float* din, float* dweight, float* dbias, const float* dout, const float* in,
                                  const float* weight, size_t B, size_t H, size_t W, size_t IC, size_t OC,
                                  bool accumulate) {
  size_t rows = B * H * W, K = IC * 9;
  float* col = scratch(0, rows * K);
  im2col_kernel<<<blocks_for(rows * K), kThreads, 0, stream()>>>(col, in, B, H, W, IC);
  RM_CUDA_LAUNCHED("im2col");
  float* dcol = din ? scratch(1, rows * K) : nullptr;
  matmul_backward(dcol, dweight, dbias, dout, col, weight, rows, K, OC, accumulate);
  if (din) {
    col2im_kernel<<<blocks_for(rows * IC), kThreads, 0, stream()>>>(din, dcol, B, H, W, IC);
    RM_CUDA_LAUNCHED("col2im");
  }
}

}  // namespace rm
