// LayerNorm over channels, per row (torch.nn.LayerNorm(C, bias=...)).
#pragma once

#include "../core/common.h"
#include "pass.h"

namespace rm {

class LayerNormModule {
 public:
  LayerNormModule(const Scope& scope, size_t C, bool bias, size_t max_rows);
  void init(Parameters& params) const;  // weight 1, bias 0
  ConstView forward(const Pass& p, ConstView in);
  void backward(const Pass& p, View din, ConstView dout);
  ConstView output() const { return out_.view(); }
  ParamSlot weight, bias;

 private:
  std::string name_;
  size_t C_;
  ConstView in_;
  Tensor out_, mean_, rstd_;  // [N, C], [N], [N] at the largest batch
};

}  // namespace rm
