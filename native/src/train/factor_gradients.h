// Sufficient factors as the model's LinearGradients strategy (core/linear_gradients.h): the
// Linear layers picked for it publish their (in, dout) through a FactorExchange, and each rank
// computes the weight rows it owns over every rank's stacked factors, already averaged. Those
// layers stay out of the gradient buckets; their rows are this rank's to update, beside its
// bucket shards.
#pragma once

#include <memory>
#include <vector>

#include "../core/linear_gradients.h"
#include "../collectives/factor_exchange.h"

namespace rm {

class FactorGradients final : public LinearGradients {
 public:
  // layers[i] uses slot i of `exchange`.
  FactorGradients(std::unique_ptr<FactorExchange> exchange, std::vector<LinearLayer> layers);

  bool takes(size_t weight_offset) const override { return slot_of(weight_offset) >= 0; }
  void begin(size_t weight_offset, const float* in, const float* dout, size_t N) override;
  Range finish(size_t weight_offset, Kernels& k, float* dweight, float* dbias, bool accumulate) override;

  const FactorExchange& exchange() const { return *exchange_; }
  // This rank's parts of the factored layers' parameters: weight rows and bias elements.
  const std::vector<Range>& owned() const { return owned_; }
  // Σ g² over this rank's parts of the factored layers that begin at or after `first` and were
  // not summed since new_step(): called as backward finishes each layer, while its rows are
  // still in cache.
  double squares_from(size_t first, const float* grads);
  void new_step() { summed_ = 0; }

 private:
  int slot_of(size_t weight_offset) const;
  std::unique_ptr<FactorExchange> exchange_;
  std::vector<LinearLayer> layers_;  // ascending by offset
  std::vector<Range> owned_;         // per layer: its weight rows, then its bias elements
  size_t summed_ = 0;                // layers summed this step, from the last one back
};

}  // namespace rm
