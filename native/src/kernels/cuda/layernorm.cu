// LayerNorm on the GPU: layernorm_kernels.h's warp-per-row kernels for the output and the input
// gradient; the parameter gradients are column sums over the rows, one thread per channel in
// row order (element_kernels.h's LayerNormParamGrad).
#include "cuda_common.cuh"
#include "cuda_kernels.h"
#include "warp_primitives.cuh"
// The kernels, written in the primitives above.
#include "layernorm_kernels.h"

namespace rm {

void CudaKernels::layernorm_forward(View out_v, float* mean, float* rstd, ConstView in_v, const float* weight,
                                    const float* bias, size_t N, size_t C) {
  float* out = out_v.f32();
  const float* in = in_v.f32();
  layernorm::forward(StreamLaunch{stream(), "layernorm_forward"}, out, mean, rstd, in, weight, bias, N, C);
}

void CudaKernels::layernorm_backward(View din_v, float* dweight, float* dbias, ConstView dout_v, ConstView in_v,
                                     const float* weight, const float* mean, const float* rstd, size_t N, size_t C,
                                     bool accumulate) {
  float* din = din_v.f32();
  const float* dout = dout_v.f32();
  const float* in = in_v.f32();
  if (N == 0) return;
  if (din) layernorm::input_grad(StreamLaunch{stream(), "layernorm_input_grad"}, din, dout, in, weight, mean, rstd, N, C);
  if (dweight || dbias)
    launch_elements(elements::LayerNormParamGrad{dweight, dbias, dout, in, mean, rstd, N, C, accumulate}, C, stream(), "layernorm_param_grad");
}

}  // namespace rm
