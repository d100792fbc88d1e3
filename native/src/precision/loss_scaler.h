// Loss scaling for fp16, with torch.amp.GradScaler's rules. The loss (in practice its gradient)
// is multiplied by the scale before backward, so gradients too small for fp16 stay
// representable; the optimizer divides it out. Dynamic scaling starts at `init`, halves and skips
// the step whenever a gradient is inf or NaN, and doubles after `growth_interval` finite steps
// in a row. A dynamic scale that falls below `min_scale` means every scale overflows: training
// would only go on skipping, so it stops with an error instead.
#pragma once

#include <cstddef>
#include <string>

#include "../core/common.h"

namespace rm {

struct LossScalerConfig {
  bool enabled = false;  // fp16 only; bf16 has fp32's range
  bool dynamic = true;   // false: the scale stays `init`
  float init = 65536.0f;
  size_t growth_interval = 2000;
  float min_scale = 1.0f;
};

class LossScaler {
 public:
  explicit LossScaler(const LossScalerConfig& c) : config_(c), scale_(c.enabled ? c.init : 1.0f) {}

  bool enabled() const { return config_.enabled; }
  float scale() const { return scale_; }
  size_t good_steps() const { return good_steps_; }  // finite steps since the last change
  size_t skipped() const { return skipped_; }         // steps skipped so far

  // Whether this step's update may be applied, given whether its gradients are all finite;
  // moves the scale for the next step.
  bool update(bool finite) {
    if (!config_.enabled) return true;
    if (finite) {
      if (config_.dynamic && ++good_steps_ == config_.growth_interval) {
        scale_ *= 2.0f;
        good_steps_ = 0;
      }
      return true;
    }
    ++skipped_;
    good_steps_ = 0;
    if (!config_.dynamic) return false;
    scale_ *= 0.5f;
    RM_CHECK(scale_ >= config_.min_scale, "LOSS_SCALE_COLLAPSED",
             "the fp16 loss scale fell to " + std::to_string(scale_) + ", below its floor of " + std::to_string(config_.min_scale) +
                 ": gradients overflow at every scale (lower optimizer.lr, or train in bf16)");
    return false;
  }

  // From a checkpoint.
  void restore(float scale, size_t good_steps, size_t skipped) {
    scale_ = scale;
    good_steps_ = good_steps;
    skipped_ = skipped;
  }

 private:
  LossScalerConfig config_;
  float scale_;
  size_t good_steps_ = 0, skipped_ = 0;
};

}  // namespace rm
