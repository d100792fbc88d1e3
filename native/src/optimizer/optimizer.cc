#include "optimizer.h"

#include <algorithm>
#include <cmath>

#include "../core/math.h"
#include "../core/parallel.h"
#include "../precision/precision.h"

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

template <class F>
void Optimizer::for_each_group(const std::vector<Range>& ranges, F&& f) const {
  for (Range r : ranges) {
    size_t at = r.begin;
    for (Range skip : no_decay_) {
      if (skip.end <= at || skip.begin >= r.end) continue;
      if (skip.begin > at) f(Range{at, skip.begin}, true);
      size_t end = std::min(skip.end, r.end);
      f(Range{std::max(skip.begin, at), end}, false);
      at = end;
    }
    if (at < r.end) f(Range{at, r.end}, true);
  }
}

Optimizer::Optimizer(const OptimizerConfig& config, size_t n, Device& device) : config_(config), n_(n) {
  RM_CHECK(config.kind == "adamw" || config.kind == "sgd", "INVALID_ARGUMENT",
           "unknown optimizer \"" + config.kind + "\" (adamw or sgd)");
  own_m_ = Tensor({n}, DType::F32, device);
  if (config.kind == "adamw") own_v_ = Tensor({n}, DType::F32, device);
  m_ = own_m_.f32();
  v_ = config.kind == "adamw" ? own_v_.f32() : nullptr;
}

void Optimizer::use_moment_buffers(float* const* moments) {
  m_ = moments[0];
  own_m_ = Tensor();
  if (v_) {
    v_ = moments[1];
    own_v_ = Tensor();
  }
}

void Optimizer::step(Kernels& k, float* params, const float* grads, float lr, float grad_scale, const std::vector<Range>& ranges,
                     RoundedCopy copy) {
  ++t_;
  float* m = m_;
  float* v = v_;  // AdamW only
  float* low = copy.values;
  if (config_.kind == "sgd") {
    for_each_group(ranges, [&](Range r, bool decays) {
      SgdCoefficients c{lr, decays ? config_.weight_decay : 0.0f, config_.momentum, config_.nesterov};
      size_t o = r.begin;
      k.sgd_step(params + o, m + o, grads + o, low ? low + o : nullptr, r.end - r.begin, grad_scale, c, copy.precision);
    });
    return;
  }
  double bc1 = 1.0 - std::pow(double(config_.beta1), double(t_));
  double bc2 = 1.0 - std::pow(double(config_.beta2), double(t_));
  for_each_group(ranges, [&](Range r, bool decays) {
    AdamWCoefficients c{decays ? 1.0f - lr * config_.weight_decay : 1.0f, config_.beta1, config_.beta2,
                        float(lr / bc1), float(1.0 / std::sqrt(bc2)), config_.eps};
    size_t o = r.begin;
    k.adamw_step(params + o, m + o, v + o, grads + o, low ? low + o : nullptr, r.end - r.begin, grad_scale, c, copy.precision);
  });
}

}  // namespace rm
