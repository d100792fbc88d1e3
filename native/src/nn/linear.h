// Linear per row (per token): out[N, OUT] = in[N, IN] · weight[OUT, IN]ᵀ + bias (torch.nn.Linear),
// optionally with a fused ReLU. A transformer's rows are its B·T tokens; a chain's, its samples.
#pragma once

#include "../core/common.h"
#include "../core/rng.h"
#include "chain.h"

namespace rm {

class LinearModule final : public ChainModule {
 public:
  LinearModule(const Scope& scope, size_t in, size_t out, bool bias, size_t max_rows, FusedRelu relu = FusedRelu::None);
  // GPT-2's initialisation: weight ~ N(0, std), bias 0.
  void init(Parameters& params, Rng& rng, float std) const;
  // torch.nn.Linear's: weight and bias uniform in ±1/√in (kaiming_uniform_ with a = √5).
  void init(Parameters& params, Rng& rng) const override;
  SampleShape output_shape() const override { return {OUT_, 1, 1}; }
  double forward_flops(size_t rows) const override { return 2.0 * double(rows) * double(IN_) * double(OUT_); }
  ConstView forward(const Pass& p, ConstView in) override;  // keeps `in` for backward
  void backward(const Pass& p, View din, ConstView dout) override;  // din [N, IN] (null: not wanted)
  // GELU fused after the product (a transformer MLP's c_fc): activated [N, OUT] = gelu(product),
  // returned; output() then keeps what backward needs of the product (the kernels' aux: see
  // Kernels::matmul_gelu_forward).
  ConstView forward_gelu(const Pass& p, ConstView in, View activated);
  // backward of a layer whose input was gelu(x) (the MLP's c_proj), din taken on through the
  // GELU in the same call: the gradient of x, known by gelu_aux, the output() of the layer that
  // made x (null gelu_aux: backward).
  void backward_through_gelu(const Pass& p, View din, ConstView dout, ConstView gelu_aux);
  ConstView output() const { return out_.view(); }
  LinearLayer layer() const { return {weight.offset, bias.offset, IN_, OUT_}; }
  ParamSlot weight, bias;

 private:
  // din = dout · weight, through the GELU when gelu_aux is given.
  void input_gradient(const Pass& p, View din, ConstView dout, ConstView gelu_aux) const;
  // The parameter gradients from a LinearGradients strategy, din computed while it gathers.
  void backward_through(const Pass& p, LinearGradients& strategy, View din, ConstView dout, ConstView gelu_aux);
  std::string name_;
  size_t IN_, OUT_;
  FusedRelu relu_;
  ConstView in_;
  Tensor out_;     // [N, OUT] at the largest batch: the product (under a fused GELU, its aux)
  Tensor masked_;  // FusedRelu::Here: dout through the ReLU's derivative
};

}  // namespace rm
