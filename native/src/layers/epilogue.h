// The two halves of a fused activation: the oneDNN post-op that applies it in forward, and the
// pass that takes dout through its derivative before the layer's own backward.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include "../core/parallel.h"
#include "layer.h"
#include "pointwise.h"

namespace rm {

inline dnnl::primitive_attr epilogue_attr(Epilogue e) {
  dnnl::primitive_attr attr;
  if (e != Epilogue::None) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    attr.set_post_ops(ops);
  }
  return attr;
}

// Returns the gradient w.r.t. the pre-activation: dout itself when there is no epilogue or the
// next layer already applied the derivative, otherwise scratch[N] = dout · relu'(out).
inline const float* epilogue_backward(Epilogue e, float* scratch, const float* dout, const float* out, size_t N) {
  if (e != Epilogue::Relu) return dout;
  parallel_for(N, 16384, [&](size_t i0, size_t i1) { relu_backward(scratch + i0, dout + i0, out + i0, i1 - i0); });
  return scratch;
}

}  // namespace rm
