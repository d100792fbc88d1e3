// Sufficient factors (Xie et al., "Lighter-communication distributed machine learning via
// sufficient factor broadcasting", 2016): a Linear layer's weight gradient over a batch is
// doutᵀ · in, a product of two matrices of B·OUT and B·IN floats. When those are smaller than
// the OUT·IN gradient (small batches, wide layers: the MLP's 1024 × 1024 layers at batch 128
// hold 4× fewer floats in their factors), data-parallel ranks that share memory exchange the
// factors instead of reducing the gradient: each publishes its (in, dout), and each computes
// the weight rows it owns from every rank's factors, stacked into the global batch. The
// product then runs over the global batch (a deeper, more efficient matmul than each rank's
// half), gives the averaged gradient directly (no reduction pass over it), and sums the global
// batch in the order one rank would.
#pragma once

#include <cstddef>

#include "../core/common.h"

namespace rm {

struct FactorShape {
  size_t in, out;  // the Linear's input and output features
};

class FactorExchange {
 public:
  // Every rank's factors of one use of a slot, stacked in rank order (rank r's samples are
  // rows [r·B, (r+1)·B), as the sampler hands out the global batch). dout is already divided
  // by the number of ranks, so doutᵀ · in is the gradient averaged over them.
  struct Gathered {
    const float* in;    // [batch, IN]
    const float* dout;  // [batch, OUT]
    size_t batch;
  };

  virtual ~FactorExchange() = default;
  // The weight rows of slot `slot` this rank owns: the same for every use.
  virtual Range rows(size_t slot) const = 0;
  // Copies this rank's in[B, IN] and dout[B, OUT] of slot `slot` where the other ranks read
  // them. Collective: every rank publishes the same slots in the same order, with the same B.
  virtual void publish(size_t slot, const float* in, const float* dout, size_t B) = 0;
  // Waits until every rank has published this use of `slot`; COLLECTIVE_TIMEOUT naming the
  // ranks that never did.
  virtual Gathered gather(size_t slot) = 0;
  // Exchanges so far, and the seconds spent waiting in gather for the other ranks.
  virtual size_t exchanges() const = 0;
  virtual double waited_seconds() const = 0;
};

}  // namespace rm
