// Softmax cross-entropy over logits[B, V] with integer labels[B], mean over the batch
// (torch.nn.functional.cross_entropy with reduction='mean'), fused and numerically stable:
//   loss_b = logsumexp(logits_b) − logits_b[label_b]
//   dlogits[b, v] = (softmax(logits_b)[v] − [v = label_b]) · grad_scale / B
#pragma once

#include <cstddef>
#include <cstdint>

namespace rm {

struct CrossEntropyResult {
  double loss_sum;   // Σ_b loss_b (divide by B for the mean)
  size_t correct;    // rows whose arg-max equals the label
};

// dlogits may be null (evaluation). Throws NativeError("INVALID_ARGUMENT") on a label ∉ [0, V).
CrossEntropyResult cross_entropy_forward_backward(float* dlogits, const float* logits,
                                                  const int32_t* labels, size_t B, size_t V,
                                                  float grad_scale);

}  // namespace rm
