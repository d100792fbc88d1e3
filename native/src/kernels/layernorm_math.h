// LayerNorm's per-element formulas, shared by the CPU fast path and the CUDA kernels (the CPU
// reference computes in double on its own, as the oracle should).
#pragma once

#include "../core/math.h"

namespace rm {

constexpr float kLayerNormEps = 1e-5f;  // torch.nn.LayerNorm's default

// y = x̂ · w + b with x̂ = (x − mean) · rstd
RM_HD float layernorm_out(float x, float mean, float rstd, float w, float b) { return (x - mean) * rstd * w + b; }

// ∂L/∂x = rstd · (g − mean(g) − x̂ · mean(g · x̂)) with g = dy · w, the row means given
RM_HD float layernorm_input_grad(float g, float xhat, float rstd, float g_mean, float gx_mean) {
  return rstd * (g - g_mean - xhat * gx_mean);
}

}  // namespace rm
