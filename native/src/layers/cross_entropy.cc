#include "cross_entropy.h"

#include <cmath>
#include <string>
#include <vector>

#include "../core/common.h"

namespace rm {

CrossEntropyResult cross_entropy_forward_backward(float* dlogits, const float* logits,
                                                  const int32_t* labels, size_t B, size_t V,
                                                  float grad_scale) {
  CrossEntropyResult r{0.0, 0};
  for (size_t b = 0; b < B; ++b) {
    int32_t label = labels[b];
    RM_CHECK(label >= 0 && size_t(label) < V, "INVALID_ARGUMENT",
             "label " + std::to_string(label) + " at row " + std::to_string(b) + " is outside [0, " +
                 std::to_string(V) + ")");
    const float* z = logits + b * V;
    size_t argmax = 0;
    for (size_t v = 1; v < V; ++v)
      if (z[v] > z[argmax]) argmax = v;
    float zmax = z[argmax];
    double sum = 0.0;
    for (size_t v = 0; v < V; ++v) sum += std::exp(double(z[v] - zmax));
    r.loss_sum += std::log(sum) + zmax - z[label];
    r.correct += argmax == size_t(label);
    if (dlogits == nullptr) continue;
    float scale = grad_scale / float(B);
    float inv_sum = float(1.0 / sum);
    for (size_t v = 0; v < V; ++v) {
      float p = std::exp(z[v] - zmax) * inv_sum;
      dlogits[b * V + v] = (p - (v == size_t(label) ? 1.0f : 0.0f)) * scale;
    }
  }
  return r;
}

}  // namespace rm
