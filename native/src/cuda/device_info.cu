// CUDA build probe: how many devices this process can see (0 when the driver or GPU is absent).
// The CUDA kernels themselves arrive with the CUDA issue and share math.h with the CPU loops.
#include <cuda_runtime.h>

namespace rm {

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}

}  // namespace rm
