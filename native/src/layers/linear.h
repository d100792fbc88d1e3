// Linear: out[B, OUT] = in[B, IN] · weight[OUT, IN]ᵀ + bias[OUT]   (torch.nn.Linear's layout)
// With Epilogue::Relu, out = relu(…) in the same matmul. With bf16 kernels (mixed precision on
// hardware where they pay off) the matmuls read bf16 copies of their inputs, which are exact
// (the model rounds every input to bf16 already), and accumulate and write in fp32.
#pragma once

#include <map>
#include <memory>

#include "../train/factor_exchange.h"
#include "layer.h"

namespace rm {

class Linear : public Layer {
 public:
  Linear(SampleShape in, size_t out_features, Impl impl, Epilogue epilogue = Epilogue::None,
         bool bf16_kernels = false);
  ~Linear() override;
  SampleShape output_shape() const override { return {OUT_, 1, 1}; }
  std::vector<ParamTensor> params() const override;
  void init_params(float* params, Rng& rng) const override;
  double forward_flops(size_t B) const override { return 2.0 * double(B) * double(IN_) * double(OUT_); }
  void forward(float* out, const float* in, const float* params, size_t B) override;
  void backward(float* din, float* dparams, const float* dout, const float* in, const float* out,
                const float* params, size_t B, bool accumulate) override;
  // Data parallel with sufficient factors (factor_exchange.h; fp32 kernels only): publishes this
  // rank's factors in `slot`, computes din while the others publish theirs, then the weight and
  // bias gradient rows this rank owns over the whole global batch, already averaged. The other
  // rows of dparams are left as they were.
  void backward_factored(float* din, float* dparams, const float* dout, const float* in, const float* out,
                         const float* params, size_t B, bool accumulate, FactorExchange& exchange, size_t slot);

 private:
  struct Primitives;  // oneDNN matmuls for one batch size, created on first use
  Primitives& primitives(size_t B);
  void input_gradient(Primitives& p, float* din, const float* dout, const float* weight);

  size_t IN_, OUT_;
  Impl impl_;
  Epilogue epilogue_;
  bool bf16_;
  std::map<size_t, std::unique_ptr<Primitives>> cache_;
};

}  // namespace rm
