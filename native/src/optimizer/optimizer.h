// Optimizers over the flat parameter and gradient buffers, with gradient clipping by global norm.
// The update passes are the kernels' (kernels.h: math.h's formulas on every device); this file owns
// the state and the parameter groups.
#pragma once

#include <string>
#include <vector>

#include "../core/common.h"
#include "../core/tensor.h"
#include "../kernels/kernels.h"
#include "../precision/precision.h"

namespace rm {

struct OptimizerConfig {
  std::string kind = "adamw";  // adamw | sgd
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float weight_decay = 0.01f;
  float momentum = 0.9f;
  bool nesterov = false;
};

// Σ g² over the whole buffer, accumulated in double in a fixed order for a given thread count.
double global_squares(const float* grads, size_t n);

// Mixed precision: where an update also writes each parameter rounded to `precision` (the copy
// the layers compute with), in the same pass; values null: no copy.
struct RoundedCopy {
  Precision precision = Precision::F32;
  float* values = nullptr;
};

class Optimizer {
 public:
  // The moments live on `device`, beside the parameters.
  Optimizer(const OptimizerConfig& config, size_t n, Device& device = cpu_device());

  // One update of params from grads·grad_scale (grad_scale folds clipping and loss-scale
  // division into the same pass) over the given ranges ([0, n) unless this rank owns shards of a
  // sharded optimizer), by the kernels of the device the buffers are on.
  void step(Kernels& k, float* params, const float* grads, float lr, float grad_scale, const std::vector<Range>& ranges,
            RoundedCopy copy = {});

  // The state a checkpoint holds: the update count and the per-parameter buffers, AdamW's first
  // and second moments (torch's exp_avg, exp_avg_sq) or SGD's momentum buffer.
  size_t steps_taken() const { return t_; }
  void set_steps_taken(size_t t) { t_ = t; }
  size_t moment_count() const { return config_.kind == "adamw" ? 2 : 1; }
  float* moment(size_t i) { return i == 0 ? m_ : v_; }
  // Parameter groups: the ranges (ascending) that weight decay skips.
  void set_no_decay(std::vector<Range> ranges) { no_decay_ = std::move(ranges); }
  // Reads and updates the moments in caller-owned memory (n floats each) from now on.
  void use_moment_buffers(float* const* moments);

 private:
  OptimizerConfig config_;
  size_t n_;
  size_t t_ = 0;
  Tensor own_m_, own_v_;
  float* m_;  // AdamW: first moment; SGD: momentum buffer
  float* v_;  // AdamW: second moment; SGD: null
  std::vector<Range> no_decay_;
  // Calls f(range, decays) over `ranges` cut where weight decay starts or stops applying.
  template <class F>
  void for_each_group(const std::vector<Range>& ranges, F&& f) const;
};

}  // namespace rm
