// Softmax cross-entropy on the GPU: cross_entropy_kernels.h's kernel, one block per row, into
// per-row buffers that the host copies back and sums in row order.
#include <vector>

#include "cuda_kernels.h"
#include "warp_primitives.cuh"
// The kernel, written in the primitives above.
#include "cross_entropy_kernels.h"

namespace rm {

CrossEntropyResult CudaKernels::cross_entropy(View dlogits, ConstView logits, const int32_t* targets, size_t N, size_t V,
                                              float grad_scale) {
  if (N == 0) return {0.0, 0};
  if (rows_ < N) {
    device_.synchronize();
    device_.release(row_losses_, rows_ * sizeof(double));
    device_.release(row_correct_, rows_ * sizeof(int32_t));
    row_losses_ = nullptr;
    row_correct_ = nullptr;
    rows_ = 0;
    row_losses_ = static_cast<double*>(device_.allocate(N * sizeof(double)));
    row_correct_ = static_cast<int32_t*>(device_.allocate(N * sizeof(int32_t)));
    rows_ = N;
  }
  cross_entropy::rows(StreamLaunch{stream(), "cross_entropy"}, elements_of(dlogits), row_losses_, row_correct_, elements_of(logits), targets,
                      N, V, grad_scale);
  std::vector<double> losses(N);
  std::vector<int32_t> correct(N);
  device_.copy_to_host(losses.data(), row_losses_, N * sizeof(double));
  device_.copy_to_host(correct.data(), row_correct_, N * sizeof(int32_t));
  return cross_entropy::sum_rows(losses.data(), correct.data(), N, V, [&](size_t n) {
    int32_t label = 0;
    device_.copy_to_host(&label, targets + n, sizeof label);
    return label;
  });
}

}  // namespace rm
