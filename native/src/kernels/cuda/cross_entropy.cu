// Softmax cross-entropy, one block per row: the row's maximum (its first position wins ties,
// as on the CPU), log Σ exp, the loss and, when asked, dlogits = (softmax − one-hot) ·
// grad_scale / N. Each row's loss and hit go to device buffers that the host copies back and
// sums in row order (double), so the loss is the same every time.
#include <vector>

#include "cuda_common.cuh"
#include "cuda_kernels.h"

namespace rm {

namespace {

constexpr int kRowThreads = 256;

// The block's maximum and its first index, and the block's sum; every thread gets the result.
__device__ void block_argmax(float& value, int& index) {
  __shared__ float values[32];
  __shared__ int indices[32];
  for (int offset = 16; offset > 0; offset >>= 1) {
    float v = __shfl_xor_sync(kFullWarp, value, offset);
    int i = __shfl_xor_sync(kFullWarp, index, offset);
    if (v > value || (v == value && i < index)) value = v, index = i;
  }
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) values[warp] = value, indices[warp] = index;
  __syncthreads();
  if (warp == 0) {
    int warps = blockDim.x / 32;
    value = lane < warps ? values[lane] : -INFINITY;
    index = lane < warps ? indices[lane] : 0x7fffffff;
    for (int offset = 16; offset > 0; offset >>= 1) {
      float v = __shfl_xor_sync(kFullWarp, value, offset);
      int i = __shfl_xor_sync(kFullWarp, index, offset);
      if (v > value || (v == value && i < index)) value = v, index = i;
    }
    if (lane == 0) values[0] = value, indices[0] = index;
  }
  __syncthreads();
  value = values[0];
  index = indices[0];
  __syncthreads();
}

__device__ float block_sum(float x) {
  __shared__ float partial[32];
  x = warp_sum(x);
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) partial[warp] = x;
  __syncthreads();
  if (warp == 0) {
    x = lane < int(blockDim.x / 32) ? partial[lane] : 0.0f;
    x = warp_sum(x);
    if (lane == 0) partial[0] = x;
  }
  __syncthreads();
  x = partial[0];
  __syncthreads();
  return x;
}

__global__ void cross_entropy_kernel(float* dlogits, double* losses, int32_t* correct, const float* logits,
                                     const int32_t* targets, size_t V, float scale) {
  size_t n = blockIdx.x;
  const float* z = logits + n * V;
  int32_t target = targets[n];
  if (target < 0 || size_t(target) >= V) {  // the host names the row
    if (threadIdx.x == 0) correct[n] = -1;
    return;
  }
  float m = -INFINITY;
  int arg = 0x7fffffff;
  for (size_t v = threadIdx.x; v < V; v += blockDim.x)
    if (z[v] > m || arg == 0x7fffffff) m = z[v], arg = int(v);  // the first position wins, even in a row of -inf
  block_argmax(m, arg);
  float s = 0.0f;
  for (size_t v = threadIdx.x; v < V; v += blockDim.x) s += expf(z[v] - m);
  float sum = block_sum(s);
  if (threadIdx.x == 0) {
    losses[n] = double(logf(sum)) + double(m) - double(z[target]);
    correct[n] = arg == target ? 1 : 0;
  }
  if (dlogits) {
    float inv = 1.0f / sum;
    for (size_t v = threadIdx.x; v < V; v += blockDim.x)
      dlogits[n * V + v] = (expf(z[v] - m) * inv - (int(v) == target ? 1.0f : 0.0f)) * scale;
  }
}

}  // namespace

CrossEntropyResult CudaKernels::cross_entropy(float* dlogits, const float* logits, const int32_t* targets, size_t N,
                                              size_t V, float grad_scale) {
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
  cross_entropy_kernel<<<unsigned(N), kRowThreads, 0, stream()>>>(dlogits, row_losses_, row_correct_, logits, targets, V,
                                                                  grad_scale / float(N));
  RM_CUDA_LAUNCHED("cross_entropy");
  std::vector<double> losses(N);
  std::vector<int32_t> correct(N);
  device_.copy_to_host(losses.data(), row_losses_, N * sizeof(double));
  device_.copy_to_host(correct.data(), row_correct_, N * sizeof(int32_t));
  CrossEntropyResult r{0.0, 0};
  for (size_t n = 0; n < N; ++n) {
    if (correct[n] < 0) {
      int32_t label = 0;
      device_.copy_to_host(&label, targets + n, sizeof label);
      throw NativeError("INVALID_ARGUMENT", "label " + std::to_string(label) + " at row " + std::to_string(n) + " is outside [0, " +
                                                std::to_string(V) + ")");
    }
    r.loss_sum += losses[n];
    r.correct += size_t(correct[n]);
  }
  return r;
}

}  // namespace rm
