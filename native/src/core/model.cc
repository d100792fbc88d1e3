#include "model.h"

namespace rm {

void Model::use_factor_exchange(FactorExchange*, const std::vector<FactorableLayer>& layers) {
  RM_CHECK(layers.empty(), "INVALID_ARGUMENT", "this model has no layers that exchange sufficient factors");
}

}  // namespace rm
