// Reference softmax cross-entropy: one row at a time, exp and sums in double.
#include <cmath>
#include <string>

#include "../../core/common.h"
#include "reference_kernels.h"

namespace rm {

CrossEntropyResult ReferenceKernels::cross_entropy(View dlogits_v, ConstView logits_v, const int32_t* targets, size_t N,
                                                   size_t V, float grad_scale) {
  float* dlogits = dlogits_v.f32();
  const float* logits = logits_v.f32();
  CrossEntropyResult r{0.0, 0};
  for (size_t n = 0; n < N; ++n) {
    int32_t target = targets[n];
    RM_CHECK(target >= 0 && size_t(target) < V, "INVALID_ARGUMENT",
             "label " + std::to_string(target) + " at row " + std::to_string(n) + " is outside [0, " + std::to_string(V) + ")");
    const float* z = logits + n * V;
    size_t argmax = 0;
    for (size_t v = 1; v < V; ++v)
      if (z[v] > z[argmax]) argmax = v;
    double sum = 0.0;
    for (size_t v = 0; v < V; ++v) sum += std::exp(double(z[v]) - z[argmax]);
    r.loss_sum += std::log(sum) + z[argmax] - z[target];
    r.correct += argmax == size_t(target);
    if (dlogits == nullptr) continue;
    for (size_t v = 0; v < V; ++v) {
      double p = std::exp(double(z[v]) - z[argmax]) / sum;
      dlogits[n * V + v] = float((p - (v == size_t(target) ? 1.0 : 0.0)) * grad_scale / double(N));
    }
  }
  return r;
}

}  // namespace rm
