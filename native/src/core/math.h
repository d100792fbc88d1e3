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

// e^x from a degree-6 polynomial on [−ln2/2, ln2/2] after x = n·ln2 + r (Cephes' expf
// coefficients; within 2 ulp of expf over its range), written so compilers vectorise it: the
// CPU loops over activations need a vector exp, and libm's is scalar. 0 below −87.3, where
// expf's results are subnormal (flushed to 0 under FTZ, as the compute threads run); saturates
// at e^88.3 (the largest exponent a float holds).
RM_HD float exp_fast(float x) {
  // Clamps and rounding written as compares and the 1.5·2²³ trick: fminf, fmaxf and rintf keep
  // IEEE corner cases that stop the compiler from vectorising them.
  bool underflow = x < -87.3f;
  x = underflow ? -87.3f : x;
  x = x > 88.3f ? 88.3f : x;
  constexpr float kRound = 12582912.0f;  // 1.5·2²³: adding it rounds to an integer (ties to even)
  float n = fmaf(x, 1.44269504088896341f, kRound) - kRound;  // an explicit fma: the same bits in vector and scalar code
  float r = fmaf(n, -0.693359375f, x);
  r = fmaf(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = fmaf(p, r, 1.3981999507e-3f);
  p = fmaf(p, r, 8.3334519073e-3f);
  p = fmaf(p, r, 4.1665795894e-2f);
  p = fmaf(p, r, 1.6666665459e-1f);
  p = fmaf(p, r, 5.0000001201e-1f);
  p = fmaf(p, r * r, r) + 1.0f;
  int bits = (int(n) + 127) << 23;
  float scale;
  __builtin_memcpy(&scale, &bits, sizeof scale);
  return underflow ? 0.0f : p * scale;
}

// GELU, tanh form: 0.5·x·(1 + tanh(u)) with u = √(2/π)·(x + 0.044715·x³), as torch's
// approximate='tanh'. Computed as x·σ(2u), the same function (0.5·(1 + tanh u) = σ(2u)) in one
// exp and one division, exact at the saturated ends (x and 0).
constexpr float kGeluScale = 0.7978845608028654f;  // √(2/π)
constexpr float kGeluCubic = 0.044715f;

// σ(2u), and d(2u)/dx in *slope
RM_HD float gelu_sigmoid(float x, float* slope) {
  float x2 = x * x;
  *slope = (2.0f * kGeluScale) * (1.0f + 3.0f * kGeluCubic * x2);
  return 1.0f / (1.0f + exp_fast(-(2.0f * kGeluScale) * x * (1.0f + kGeluCubic * x2)));
}

RM_HD float gelu(float x) {
  float slope;
  return x * gelu_sigmoid(x, &slope);
}

// gelu'(x) = σ + x·σ·(1 − σ)·d(2u)/dx
RM_HD float gelu_grad(float x) {
  float slope, s = gelu_sigmoid(x, &slope);
  return s + x * s * (1.0f - s) * slope;
}

// gelu(x), and gelu'(x) in *grad, from one exp: what a fused GELU keeps for backward.
RM_HD float gelu_with_grad(float x, float* grad) {
  float slope, s = gelu_sigmoid(x, &slope);
  *grad = s + x * s * (1.0f - s) * slope;
  return x * s;
}

// 2×2 max-pool backward of one window: the output's gradient g goes to the first tap (row-major)
// holding the maximum m and nothing to the others; with `relu_input` (the pool reads a fused
// ReLU's output) nothing at all where m ≤ 0, the ReLU having passed nothing there.
RM_HD void maxpool_window_grad(float grads[4], const float taps[4], float m, float g, bool relu_input) {
  g = relu_input && !(m > 0.0f) ? 0.0f : g;
  bool routed = false;
  for (int k = 0; k < 4; ++k) {
    bool takes = !routed && taps[k] == m;
    grads[k] = takes ? g : 0.0f;
    routed |= takes;
  }
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
