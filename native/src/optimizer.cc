#include "optimizer.h"

#include <cmath>

#include "math.h"
#include "parallel.h"

namespace rm {

constexpr size_t kGrain = 65536;

// Float partial sums per block of 4096 (the simd reduction lets the compiler reorder within a
// block), widened to double between blocks so long buffers do not lose precision.
__attribute__((target_clones("avx512f", "avx2", "default")))
static double sum_of_squares(const float* g, size_t n) {
  constexpr size_t kBlock = 4096;
  double total = 0.0;
  for (size_t b = 0; b < n; b += kBlock) {
    size_t end = b + kBlock < n ? b + kBlock : n;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (size_t i = b; i < end; ++i) s += g[i] * g[i];
    total += s;
  }
  return total;
}

double global_squares(const float* grads, size_t n) {
  return parallel_sum(n, kGrain, [&](size_t i0, size_t i1) { return sum_of_squares(grads + i0, i1 - i0); });
}

__attribute__((target_clones("avx512f", "avx2", "default")))
static void adamw_chunk(float* p, float* m, float* v, const float* g, size_t n, float grad_scale,
                        AdamWCoefficients c) {
  for (size_t i = 0; i < n; ++i) adamw_update(p[i], m[i], v[i], g[i] * grad_scale, c);
}

__attribute__((target_clones("avx512f", "avx2", "default")))
static void sgd_chunk(float* p, float* b, const float* g, size_t n, float grad_scale, SgdCoefficients c) {
  for (size_t i = 0; i < n; ++i) sgd_update(p[i], b[i], g[i] * grad_scale, c);
}

Optimizer::Optimizer(const OptimizerConfig& config, size_t n) : config_(config), n_(n) {
  RM_CHECK(config.kind == "adamw" || config.kind == "sgd", "INVALID_ARGUMENT",
           "unknown optimizer \"" + config.kind + "\" (adamw or sgd)");
  own_m_ = FloatBuffer(n);
  if (config.kind == "adamw") own_v_ = FloatBuffer(n);
  m_ = own_m_.data();
  v_ = config.kind == "adamw" ? own_v_.data() : nullptr;
}

void Optimizer::use_moment_buffers(float* const* moments) {
  m_ = moments[0];
  own_m_ = FloatBuffer();
  if (v_) {
    v_ = moments[1];
    own_v_ = FloatBuffer();
  }
}

void Optimizer::step(float* params, const float* grads, float lr, float grad_scale, const std::vector<Range>& ranges) {
  ++t_;
  float* m = m_;
  float* v = v_;  // AdamW only
  if (config_.kind == "sgd") {
    SgdCoefficients c{lr, config_.weight_decay, config_.momentum, config_.nesterov};
    for (Range r : ranges)
      parallel_for(r.end - r.begin, kGrain, [&](size_t i0, size_t i1) {
        size_t o = r.begin + i0;
        sgd_chunk(params + o, m + o, grads + o, i1 - i0, grad_scale, c);
      });
    return;
  }
  double bc1 = 1.0 - std::pow(double(config_.beta1), double(t_));
  double bc2 = 1.0 - std::pow(double(config_.beta2), double(t_));
  AdamWCoefficients c{1.0f - lr * config_.weight_decay, config_.beta1, config_.beta2,
                      float(lr / bc1), float(1.0 / std::sqrt(bc2)), config_.eps};
  for (Range r : ranges)
    parallel_for(r.end - r.begin, kGrain, [&](size_t i0, size_t i1) {
      size_t o = r.begin + i0;
      adamw_chunk(params + o, m + o, v + o, grads + o, i1 - i0, grad_scale, c);
    });
}

}  // namespace rm
