// 3×3 convolutions (stride 1, padding 1, channels-last) as matrix products over im2col rows:
// row (b, y, x) of col holds the 3×3 window around (y, x) for every input channel, ordered
// (ic, kh, kw) as the weight [OC, IC, 3, 3] flattens, so
//   out[BHW, OC] = col · Wᵀ + bias,   dW (+)= doutᵀ · col,   dcol = dout · W  → din by col2im.
// col2im gathers (each din element sums its 9 taps in a fixed order), so no atomics. Both are
// element_kernels.h's bodies.
#include "cuda_common.cuh"
#include "cuda_kernels.h"

namespace rm {

void CudaKernels::conv2d_forward(float* out, const float* in, const float* weight, const float* bias, size_t B, size_t H,
                                 size_t W, size_t IC, size_t OC, Epilogue epilogue) {
  size_t rows = B * H * W, K = IC * 9;
  float* col = scratch(0, rows * K);
  launch_elements(elements::Im2col{col, in, H, W, IC}, rows * K, stream(), "im2col");
  matmul_forward(out, col, weight, bias, rows, K, OC, epilogue);
}

void CudaKernels::conv2d_backward(float* din, float* dweight, float* dbias, const float* dout, const float* in,
                                  const float* weight, size_t B, size_t H, size_t W, size_t IC, size_t OC,
                                  bool accumulate) {
  size_t rows = B * H * W, K = IC * 9;
  float* col = scratch(0, rows * K);
  launch_elements(elements::Im2col{col, in, H, W, IC}, rows * K, stream(), "im2col");
  float* dcol = din ? scratch(1, rows * K) : nullptr;
  matmul_backward(dcol, dweight, dbias, dout, col, weight, rows, K, OC, accumulate);
  if (din) {
    launch_elements(elements::Col2im{din, dcol, H, W, IC}, rows * IC, stream(), "col2im");
  }
}

}  // namespace rm
