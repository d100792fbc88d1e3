#include "cross_entropy.h"

#include <cmath>
#include <string>
#include <vector>

#include "../core/common.h"
#include "../core/math.h"
#include "../core/parallel.h"

namespace rm {

namespace {

struct RowResult {
  double loss;
  bool correct;
};

// One row: the loss, whether its arg-max is the label, and (dlogits not null) its gradient.
// e_v = exp(z_v − max) goes through dlogits' row (or `scratch`) so exp runs once per logit.
__attribute__((target_clones("avx512f", "avx2", "default")))
RowResult row_loss(float* drow, float* scratch, const float* z, int32_t label, size_t V, float scale) {
  size_t argmax = 0;
  for (size_t v = 1; v < V; ++v)
    if (z[v] > z[argmax]) argmax = v;
  float zmax = z[argmax];
  float* e = drow ? drow : scratch;
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (size_t v = 0; v < V; ++v) sum += (e[v] = exp_fast(z[v] - zmax));
  if (drow) {
    float inv = scale / sum;
    for (size_t v = 0; v < V; ++v) drow[v] *= inv;
    drow[label] -= scale;
  }
  return {std::log(double(sum)) + zmax - z[label], argmax == size_t(label)};
}

}  // namespace

CrossEntropyResult cross_entropy_forward_backward(float* dlogits, const float* logits,
                                                  const int32_t* labels, size_t B, size_t V,
                                                  float grad_scale) {
  for (size_t b = 0; b < B; ++b)
    RM_CHECK(labels[b] >= 0 && size_t(labels[b]) < V, "INVALID_ARGUMENT",
             "label " + std::to_string(labels[b]) + " at row " + std::to_string(b) + " is outside [0, " +
                 std::to_string(V) + ")");
  float scale = grad_scale / float(B);
  size_t chunks = chunk_count(B, 16);
  std::vector<double> loss(chunks, 0.0);
  std::vector<size_t> correct(chunks, 0);
  for_each_chunk(B, chunks, [&](size_t k, size_t b0, size_t b1) {
    std::vector<float> scratch(dlogits ? 0 : V);
    for (size_t b = b0; b < b1; ++b) {
      RowResult r = row_loss(dlogits ? dlogits + b * V : nullptr, scratch.data(), logits + b * V, labels[b], V, scale);
      loss[k] += r.loss;
      correct[k] += r.correct;
    }
  });
  CrossEntropyResult result{0.0, 0};
  for (size_t k = 0; k < chunks; ++k) result.loss_sum += loss[k], result.correct += correct[k];
  return result;
}

}  // namespace rm
