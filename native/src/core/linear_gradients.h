// A hook through which a strategy outside the model may compute Linear layers' parameter
// gradients itself. Data parallelism with sufficient factors uses it (train/factor_gradients.h):
// each rank hands over its layer's input and output gradient, and the weight rows it owns come
// from every rank's factors at once, already averaged. The model and its layers know only this
// interface, never how the strategy communicates.
#pragma once

#include <cstddef>

#include "../kernels/kernels.h"
#include "common.h"

namespace rm {

// A Linear layer whose gradients a LinearGradients may take over, named by where its
// parameters sit in the model's flat buffers.
struct LinearLayer {
  size_t weight_offset, bias_offset;  // weight [out, in], bias [out]
  size_t in, out;
};

class LinearGradients {
 public:
  virtual ~LinearGradients() = default;
  // Whether the Linear whose weight begins at `weight_offset` takes its gradients from here.
  virtual bool takes(size_t weight_offset) const = 0;
  // In that layer's backward, first: its input in[N, in] and pre-activation gradient
  // dout[N, out]. The layer computes its input gradient next, while the strategy may wait.
  virtual void begin(size_t weight_offset, const float* in, const float* dout, size_t N) = 0;
  // Then: writes the weight rows this rank owns of dweight[out, in] and dbias[out] (+= when
  // `accumulate`) on kernels `k`, and returns those rows; no other element is touched.
  virtual Range finish(size_t weight_offset, Kernels& k, float* dweight, float* dbias, bool accumulate) = 0;
};

}  // namespace rm
