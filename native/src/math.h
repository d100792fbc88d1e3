// Per-element math, written once and shared by the CPU loops and the CUDA kernels, so the CPU
// tests exercise exactly the formulas the GPU runs. Everything here is inline, scalar, and free
// of state.
#pragma once

#include <cmath>

#ifdef __CUDACC__
#define RM_HD __host__ __device__ __forceinline__
#else
#define RM_HD inline
#endif

namespace rm {

RM_HD float relu(float x) { return x > 0.0f ? x : 0.0f; }
// d relu / dx expressed through the output, so backward needs only what forward stored.
RM_HD float relu_grad(float y) { return y > 0.0f ? 1.0f : 0.0f; }

// GELU, tanh form: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), as torch's approximate='tanh'.
constexpr float kGeluScale = 0.7978845608028654f;  // √(2/π)
constexpr float kGeluCubic = 0.044715f;

RM_HD float gelu(float x) {
  float inner = kGeluScale * (x + kGeluCubic * x * x * x);
  return 0.5f * x * (1.0f + tanhf(inner));
}

RM_HD float gelu_grad(float x) {
  float inner = kGeluScale * (x + kGeluCubic * x * x * x);
  float t = tanhf(inner);
  float dinner = kGeluScale * (1.0f + 3.0f * kGeluCubic * x * x);
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * dinner;
}

// One AdamW update of one parameter, torch.optim.AdamW's order of operations:
//   p ← p·(1 − lr·wd);  m ← m + (1−β1)(g − m);  v ← β2·v + (1−β2)·g²;
//   p ← p − (lr / bc1) · m / (√v / √bc2 + ε),   with bc_i = 1 − β_i^t.
struct AdamWCoefficients {
  float decay;           // 1 − lr·wd
  float beta1, beta2;
  float step_size;       // lr / bc1
  float inv_sqrt_bc2;    // 1 / √bc2
  float eps;
};

RM_HD void adamw_update(float& p, float& m, float& v, float g, const AdamWCoefficients& c) {
  p *= c.decay;
  m += (1.0f - c.beta1) * (g - m);
  v = c.beta2 * v + (1.0f - c.beta2) * g * g;
  p -= c.step_size * m / (sqrtf(v) * c.inv_sqrt_bc2 + c.eps);
}

// One SGD update, torch.optim.SGD with dampening 0: d = g + wd·p; b ← μ·b + d;
// p ← p − lr·(nesterov ? d + μ·b : b). The first step's b = d follows from b starting at 0.
struct SgdCoefficients {
  float lr, weight_decay, momentum;
  bool nesterov;
};

RM_HD void sgd_update(float& p, float& b, float g, const SgdCoefficients& c) {
  float d = g + c.weight_decay * p;
  b = c.momentum * b + d;
  p -= c.lr * (c.nesterov ? d + c.momentum * b : b);
}

}  // namespace rm
