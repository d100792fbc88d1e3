// The fast softmax cross-entropy (kernels.h): rows across threads, libm's exp (see row_loss).
#include "activation_elements.h"
#include "cpu_kernels.h"

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "../../core/common.h"
#include "../../core/parallel.h"

namespace rm {

namespace {

struct RowResult {
  double loss;
  bool correct;
};

// One row: the loss, whether its arg-max is the label, and (dlogits not null) its gradient.
// exp in double for the sum and the log, in float for the probabilities: the precision the
// data-parallel equivalence tests were measured with (an exp vectorised in float, identical
// per row wherever the row sits, still let 2 ranks drift from 1 rank by 7e-4 in 50 AdamW steps,
// against 1e-7 here; why was not found). Rows run across threads.
RowResult row_loss(float* drow, const float* z, int32_t label, size_t V, float scale) {
  size_t argmax = 0;
  for (size_t v = 1; v < V; ++v)
    if (z[v] > z[argmax]) argmax = v;
  float zmax = z[argmax];
  double sum = 0.0;
  for (size_t v = 0; v < V; ++v) sum += std::exp(double(z[v] - zmax));
  if (drow) {
    float inv_sum = float(1.0 / sum);
    for (size_t v = 0; v < V; ++v) drow[v] = (std::exp(z[v] - zmax) * inv_sum - (v == size_t(label) ? 1.0f : 0.0f)) * scale;
  }
  return {std::log(sum) + zmax - z[label], argmax == size_t(label)};
}

// row_loss on a row of logits (and its gradient) fp32 or bf16 (a model's 16-bit activations): a
// bf16 row is widened into this thread's fp32 row first, and its gradient narrowed after.
template <class D, class Z>
RowResult typed_row_loss(D* drow, const Z* z, int32_t label, size_t V, float scale) {
  thread_local std::vector<float> zf, df;
  const float* zrow = nullptr;
  if constexpr (std::is_same<Z, float>::value) {
    zrow = z;
  } else {
    zf.resize(V);
    convert(zf.data(), z, V);
    zrow = zf.data();
  }
  if constexpr (std::is_same<D, float>::value) {
    return row_loss(drow, zrow, label, V, scale);
  } else {
    df.resize(V);
    RowResult r = row_loss(drow ? df.data() : nullptr, zrow, label, V, scale);
    if (drow) convert(drow, df.data(), V);
    return r;
  }
}

}  // namespace

// Rows across threads, each with row_loss; the loss partials are added in chunk order, so the
// sum depends only on the thread count.
CrossEntropyResult CpuKernels::cross_entropy(View dlogits, ConstView logits, const int32_t* labels, size_t B, size_t V,
                                             float grad_scale) {
  for (size_t b = 0; b < B; ++b)
    RM_CHECK(labels[b] >= 0 && size_t(labels[b]) < V, "INVALID_ARGUMENT",
             "label " + std::to_string(labels[b]) + " at row " + std::to_string(b) + " is outside [0, " +
                 std::to_string(V) + ")");
  float scale = grad_scale / float(B);
  size_t chunks = chunk_count(B, 16);
  std::vector<double> loss(chunks, 0.0);
  std::vector<size_t> correct(chunks, 0);
  typed(dlogits, [&](auto* d) {
    typed(logits, [&](auto* z) {
      for_each_chunk(B, chunks, [&](size_t k, size_t b0, size_t b1) {
        for (size_t b = b0; b < b1; ++b) {
          RowResult r = typed_row_loss(d ? d + b * V : nullptr, z + b * V, labels[b], V, scale);
          loss[k] += r.loss;
          correct[k] += r.correct;
        }
      });
    });
  });
  CrossEntropyResult result{0.0, 0};
  for (size_t k = 0; k < chunks; ++k) result.loss_sum += loss[k], result.correct += correct[k];
  return result;
}

}  // namespace rm
