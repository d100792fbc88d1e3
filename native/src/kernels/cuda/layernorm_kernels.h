// LayerNorm's CUDA kernels (torch.nn.LayerNorm, biased variance, eps kLayerNormEps): one warp per
// row, two passes over the row for the mean and the variance; the input gradient from the row's
// means of g = dout · weight and g · x̂. Written in warp_primitives.cuh's names, so
// native/tools/warp_emulation.h runs this source on the CPU; the includer provides one of them.
// (The parameter gradients are column sums, element_kernels.h's LayerNormParamGrad.)
#pragma once

#include <cmath>
#include <cstddef>

#include "../../precision/precision.h"
#include "../layernorm_math.h"

namespace rm::layernorm {

constexpr int kWarpsPerBlock = 8;

// Activations (in, out, dout, din) fp32 or 16-bit (Elements); statistics and parameters fp32.
RM_KERNEL void forward_kernel(Elements out, float* mean_out, float* rstd_out, Elements in, const float* weight,
                              const float* bias, size_t N, size_t C) {
  size_t row = size_t(block_index_x()) * kWarpsPerBlock + thread_index() / 32;
  int lane = thread_index() % 32;
  if (row >= N) return;  // whole warps: rows are warp-uniform
  Elements x = in.at(row * C);
  float s = 0.0f;
  for (size_t c = lane; c < C; c += 32) s += x.get(c);
  float mean = warp_total(s) / float(C);
  float v = 0.0f;
  for (size_t c = lane; c < C; c += 32) v += (x.get(c) - mean) * (x.get(c) - mean);
  float rstd = 1.0f / sqrtf(warp_total(v) / float(C) + kLayerNormEps);
  Elements y = out.at(row * C);
  for (size_t c = lane; c < C; c += 32) y.set(c, layernorm_out(x.get(c), mean, rstd, weight[c], bias ? bias[c] : 0.0f));
  if (lane == 0) {
    mean_out[row] = mean;
    rstd_out[row] = rstd;
  }
}

RM_KERNEL void input_grad_kernel(Elements din, Elements dout, Elements in, const float* weight, const float* mean,
                                 const float* rstd, size_t N, size_t C) {
  size_t row = size_t(block_index_x()) * kWarpsPerBlock + thread_index() / 32;
  int lane = thread_index() % 32;
  if (row >= N) return;
  Elements x = in.at(row * C), dy = dout.at(row * C), dx = din.at(row * C);
  float m = mean[row], r = rstd[row];
  float sum_g = 0.0f, sum_gx = 0.0f;
  for (size_t c = lane; c < C; c += 32) {
    float g = dy.get(c) * weight[c], xhat = (x.get(c) - m) * r;
    sum_g += g;
    sum_gx += g * xhat;
  }
  float mean_g = warp_total(sum_g) / float(C), mean_gx = warp_total(sum_gx) / float(C);
  for (size_t c = lane; c < C; c += 32) {
    float xhat = (x.get(c) - m) * r;
    dx.set(c, layernorm_input_grad(dy.get(c) * weight[c], xhat, r, mean_g, mean_gx));
  }
}

// The launches, for StreamLaunch (the GPU) or EmulatedLaunch (the CPU).
template <class Launch>
void forward(const Launch& launch, Elements out, float* mean, float* rstd, Elements in, const float* weight, const float* bias,
             size_t N, size_t C) {
  launch(forward_kernel, (N + kWarpsPerBlock - 1) / kWarpsPerBlock, 1, 32 * kWarpsPerBlock, out, mean, rstd, in, weight, bias, N, C);
}

template <class Launch>
void input_grad(const Launch& launch, Elements din, Elements dout, Elements in, const float* weight, const float* mean,
                const float* rstd, size_t N, size_t C) {
  launch(input_grad_kernel, (N + kWarpsPerBlock - 1) / kWarpsPerBlock, 1, 32 * kWarpsPerBlock, din, dout, in, weight, mean, rstd, N, C);
}

}  // namespace rm::layernorm
