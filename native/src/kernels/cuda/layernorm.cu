// LayerNorm on the GPU: layernorm_kernels.h's warp-per-row kernels for the output and the input
// gradient; the parameter gradients are column sums over the rows, one thread per channel in
// row order (element_kernels.h's LayerNormParamGrad).
#include "cuda_common.cuh"
#include "cuda_kernels.h"
#include "warp_primitives.cuh"
// The kernels, written in the primitives above.
#include "layernorm_kernels.h"

namespace rm {

void CudaKernels::layernorm_forward(View out, float* mean, float* rstd, ConstView in, const float* weight, const float* bias,
                                    size_t N, size_t C) {
  layernorm::forward(StreamLaunch{stream(), "layernorm_forward"}, elements_of(out), mean, rstd, elements_of(in), weight, bias, N, C);
}

void CudaKernels::layernorm_backward(View din, float* dweight, float* dbias, ConstView dout, ConstView in, const float* weight,
                                     const float* mean, const float* rstd, size_t N, size_t C, bool accumulate) {
  if (N == 0) return;
  if (din)
    layernorm::input_grad(StreamLaunch{stream(), "layernorm_input_grad"}, elements_of(din), elements_of(dout), elements_of(in), weight,
                          mean, rstd, N, C);
  if (dweight || dbias)
    launch_elements(elements::LayerNormParamGrad{dweight, dbias, elements_of(dout), elements_of(in), mean, rstd, N, C, accumulate}, C,
                    stream(), "layernorm_param_grad");
}

}  // namespace rm
