#include "factor_gradients.h"

#include <algorithm>

#include "../optimizer/optimizer.h"

namespace rm {

FactorGradients::FactorGradients(std::unique_ptr<FactorExchange> exchange, std::vector<LinearLayer> layers)
    : exchange_(std::move(exchange)), layers_(std::move(layers)) {
  for (size_t i = 0; i + 1 < layers_.size(); ++i)
    RM_CHECK(layers_[i].weight_offset < layers_[i + 1].weight_offset, "INTERNAL", "factored layers must ascend");
  for (size_t slot = 0; slot < layers_.size(); ++slot) {
    const LinearLayer& l = layers_[slot];
    Range rows = exchange_->rows(slot);
    owned_.push_back({l.weight_offset + rows.begin * l.in, l.weight_offset + rows.end * l.in});
    owned_.push_back({l.bias_offset + rows.begin, l.bias_offset + rows.end});
  }
}

int FactorGradients::slot_of(size_t weight_offset) const {
  for (size_t slot = 0; slot < layers_.size(); ++slot)
    if (layers_[slot].weight_offset == weight_offset) return int(slot);
  return -1;
}

void FactorGradients::begin(size_t weight_offset, const float* in, const float* dout, size_t N) {
  int slot = slot_of(weight_offset);
  RM_CHECK(slot >= 0, "INTERNAL", "a Linear layer this strategy does not take");
  exchange_->publish(size_t(slot), in, dout, N);
}

Range FactorGradients::finish(size_t weight_offset, Kernels& k, float* dweight, float* dbias, bool accumulate) {
  size_t slot = size_t(slot_of(weight_offset));
  FactorExchange::Gathered g = exchange_->gather(slot);
  Range rows = exchange_->rows(slot);
  const LinearLayer& l = layers_[slot];
  k.matmul_weight_rows(dweight, dbias, g.dout, g.in, g.batch, l.in, l.out, rows.begin, rows.end, accumulate);
  return rows;
}

double FactorGradients::squares_from(size_t first, const float* grads) {
  double sum = 0;
  for (; summed_ < layers_.size(); ++summed_) {
    size_t slot = layers_.size() - 1 - summed_;
    if (layers_[slot].weight_offset < first) break;
    for (Range r : {owned_[2 * slot], owned_[2 * slot + 1]}) sum += global_squares(grads + r.begin, r.end - r.begin);
  }
  return sum;
}

}  // namespace rm
