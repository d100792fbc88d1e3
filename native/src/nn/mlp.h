// The transformer's feed-forward part (nanoGPT's MLP): c_proj(gelu(c_fc(x))), 4C wide, the GELU
// fused into the products beside it (see Mlp::forward).
#pragma once

#include "attention.h"
#include "linear.h"

namespace rm {

class Mlp {
 public:
  Mlp(const Scope& scope, size_t C, bool bias, size_t max_rows);
  void init(Parameters& params, Rng& rng, float std, float proj_std) const;
  ConstView forward(const Pass& p, ConstView x);
  void backward(const Pass& p, View din, ConstView dout, BlockWorkspace& w);

 private:
  LinearModule c_fc_, c_proj_;
  Tensor h_;  // gelu(c_fc(x)) [N, 4C]
};

}  // namespace rm
