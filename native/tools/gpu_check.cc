// ringmaster-gpu-check: what a GPU machine must show, with the engine library alone (no Node,
// oneDNN or Gloo: native/gpu-check/CMakeLists.txt builds it with cmake and nvcc). Every CUDA
// kernel goes through the checks of kernel_cases.h (finite differences, accumulation, against
// the CPU reference, decoding, weight rows) with its buffers on the GPU and its outputs poisoned
// with NaN first; attention again at GPT-sized heads; the optimizer's passes; then cuBLASLt's
// fp32 GEMM throughput.
// Prints one JSON object per line; exits 0 when every check passed, 1 when one failed, 2 when
// there is no GPU. scripts/gpu-check.sh builds and runs it.
#include <cuda_runtime.h>

#include <cstdio>

#include "../src/cuda/cuda_check.h"
#include "../src/cuda/cuda_device.h"
#include "../src/kernels/cuda/cuda_kernels.h"
#include "kernel_cases.h"
#include "staged_kernels.h"

using namespace rm;
using namespace rm::check;

namespace {

// fp32 GEMM of n×n by n×n on the device's stream, best of `reps` timed runs, in TFLOP/s.
double gemm_tflops(CudaKernels& k, CudaDevice& device, size_t n, int reps) {
  size_t bytes = n * n * sizeof(float);
  auto* a = static_cast<float*>(device.allocate(bytes));
  auto* b = static_cast<float*>(device.allocate(bytes));
  auto* c = static_cast<float*>(device.allocate(bytes));
  cudaEvent_t start, stop;
  RM_CUDA_CHECK(cudaEventCreate(&start), "creating an event");
  RM_CUDA_CHECK(cudaEventCreate(&stop), "creating an event");
  double best = 0;
  for (int r = -2; r < reps; ++r) {  // two untimed: cuBLASLt's first call loads its kernels
    RM_CUDA_CHECK(cudaEventRecord(start, device.stream()), "recording an event");
    k.gemm(false, false, n, n, n, a, n, b, n, c, n, false);
    RM_CUDA_CHECK(cudaEventRecord(stop, device.stream()), "recording an event");
    RM_CUDA_CHECK(cudaEventSynchronize(stop), "timing a GEMM");
    float ms = 0;
    RM_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop), "timing a GEMM");
    if (r >= 0) best = std::max(best, 2.0 * double(n) * n * n / (ms * 1e-3) / 1e12);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  device.release(a, bytes);
  device.release(b, bytes);
  device.release(c, bytes);
  return best;
}

}  // namespace

int main() {
  if (cuda_device_count() == 0) {
    std::printf("{\"check\":\"device\",\"ok\":false,\"where\":\"no GPU visible to this process\"}\n");
    return 2;
  }
  try {
    CudaDeviceInfo info = cuda_device_info(0);
    std::printf("{\"check\":\"device\",\"ok\":true,\"name\":\"%s\",\"memoryBytes\":%zu,\"capability\":\"%d.%d\"}\n", info.name.c_str(),
                info.memory_bytes, info.major, info.minor);
    CudaDevice& device = cuda_device(0);
    auto& cuda = static_cast<CudaKernels&>(cuda_kernels(0));
    StagedKernels staged(cuda, device);
    Rng rng(2024);
    std::vector<Case> all = cases(rng);
    all.push_back(attention_case(2, 17, 2 * 80, 2, rng));  // heads of 80 channels: 3 per lane
    all.push_back(attention_case(1, 9, 256, 1, rng));      // the widest head the kernels take
    for (const Case& c : all) {
      Vec w = random_vec(c.out_size, rng);
      gradcheck(staged, c, w);
      accumulate_check(staged, c, w);
      fast_against_reference(c, w, staged);
    }
    decode_check(staged);
    weight_rows_check(staged);
    update_check(staged);
    std::printf("{\"check\":\"gemm\",\"ok\":true,\"dtype\":\"fp32\",\"n\":4096,\"tflops\":%.2f}\n", gemm_tflops(cuda, device, 4096, 10));
  } catch (const NativeError& e) {
    std::printf("{\"check\":\"error\",\"ok\":false,\"code\":\"%s\",\"where\":\"%s\"}\n", e.code().c_str(), e.what());
    return 1;
  }
  return failed_any ? 1 : 0;
}
