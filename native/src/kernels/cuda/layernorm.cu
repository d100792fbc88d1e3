// LayerNorm (torch.nn.LayerNorm, biased variance, eps kLayerNormEps): one warp per row, two passes
// over the row for the mean and the variance; the parameter gradients are column sums over the
// rows, one thread per channel in row order.
#include "../layernorm_math.h"
#include "cuda_common.cuh"
#include "cuda_kernels.h"

namespace rm {

namespace {

constexpr int kWarpsPerBlock = 8;

__global__ void layernorm_forward_kernel(float* out, float* mean_out, float* rstd_out, const float* in,
                                         const float* weight, const float* bias, size_t N, size_t C) {
  size_t row = blockIdx.x * size_t(kWarpsPerBlock) + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
  if (row >= N) return;
  const float* x = in + row * C;
  float s = 0.0f;
  for (size_t c = lane; c < C; c += 32) s += x[c];
  float mean = warp_sum(s) / float(C);
  float v = 0.0f;
  for (size_t c = lane; c < C; c += 32) v += (x[c] - mean) * (x[c] - mean);
  float rstd = 1.0f / sqrtf(warp_sum(v) / float(C) + kLayerNormEps);
  float* y = out + row * C;
  for (size_t c = lane; c < C; c += 32) y[c] = layernorm_out(x[c], mean, rstd, weight[c], bias ? bias[c] : 0.0f);
  if (lane == 0) {
    mean_out[row] = mean;
    rstd_out[row] = rstd;
  }
}

// din (layernorm_input_grad) from the row's means of g = dout · weight and g · x̂
__global__ void layernorm_input_grad_kernel(float* din, const float* dout, const float* in, const float* weight,
                                            const float* mean, const float* rstd, size_t N, size_t C) {
  size_t row = blockIdx.x * size_t(kWarpsPerBlock) + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
  if (row >= N) return;
  const float *x = in + row * C, *dy = dout + row * C;
  float m = mean[row], r = rstd[row];
  float sum_g = 0.0f, sum_gx = 0.0f;
  for (size_t c = lane; c < C; c += 32) {
    float g = dy[c] * weight[c], xhat = (x[c] - m) * r;
    sum_g += g;
    sum_gx += g * xhat;
  }
  float mean_g = warp_sum(sum_g) / float(C), mean_gx = warp_sum(sum_gx) / float(C);
  for (size_t c = lane; c < C; c += 32) {
    float xhat = (x[c] - m) * r;
    din[row * C + c] = layernorm_input_grad(dy[c] * weight[c], xhat, r, mean_g, mean_gx);
  }
}

__global__ void layernorm_param_grad_kernel(float* dweight, float* dbias, const float* dout, const float* in,
                                            const float* mean, const float* rstd, size_t N, size_t C, bool accumulate) {
  size_t c = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (c >= C) return;
  float dw = 0.0f, db = 0.0f;
  for (size_t n = 0; n < N; ++n) {
    float g = dout[n * C + c];
    dw += g * (in[n * C + c] - mean[n]) * rstd[n];
    db += g;
  }
  if (dweight) dweight[c] = accumulate ? dweight[c] + dw : dw;
  if (dbias) dbias[c] = accumulate ? dbias[c] + db : db;
}

}  // namespace

void CudaKernels::layernorm_forward(float* out, float* mean, float* rstd, const float* in, const float* weight,
                                    const float* bias, size_t N, size_t C) {
  if (N == 0) return;
  layernorm_forward_kernel<<<blocks_for(N, kWarpsPerBlock), 32 * kWarpsPerBlock, 0, stream()>>>(out, mean, rstd, in, weight,
                                                                                               bias, N, C);
  RM_CUDA_LAUNCHED("layernorm_forward");
}

void CudaKernels::layernorm_backward(float* din, float* dweight, float* dbias, const float* dout, const float* in,
                                     const float* weight, const float* mean, const float* rstd, size_t N, size_t C,
                                     bool accumulate) {
  if (N == 0) return;
  if (din) {
    layernorm_input_grad_kernel<<<blocks_for(N, kWarpsPerBlock), 32 * kWarpsPerBlock, 0, stream()>>>(din, dout, in, weight,
                                                                                                    mean, rstd, N, C);
    RM_CUDA_LAUNCHED("layernorm_input_grad");
  }
  if (dweight || dbias) {
    layernorm_param_grad_kernel<<<blocks_for(C), kThreads, 0, stream()>>>(dweight, dbias, dout, in, mean, rstd, N, C,
                                                                          accumulate);
    RM_CUDA_LAUNCHED("layernorm_param_grad");
  }
}

}  // namespace rm
