// Linear per row (per token): out[N, OUT] = in[N, IN] · weight[OUT, IN]ᵀ + bias (torch.nn.Linear).
#pragma once

#include "../core/common.h"
#include "../core/rng.h"
#include "pass.h"

namespace rm {

class LinearModule {
 public:
  LinearModule(const Scope& scope, size_t in, size_t out, bool bias, size_t max_rows);
  // GPT-2's initialisation: weight ~ N(0, std), bias 0.
  void init(Parameters& params, Rng& rng, float std) const;
  const float* forward(const Pass& p, const float* in);  // keeps `in` for backward
  void backward(const Pass& p, float* din, const float* dout);  // din [N, IN] (null: not wanted)
  const float* output() const { return out_.f32(); }
  ParamSlot weight, bias;

 private:
  std::string name_;
  size_t IN_, OUT_;
  const float* in_ = nullptr;
  Tensor out_;  // [N, OUT] at the largest batch
};

}  // namespace rm
