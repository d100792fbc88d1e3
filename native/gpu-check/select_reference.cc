// ringmaster-gpu-check's choice of kernels (kernels.h: choose_kernels). This build has no CPU fast
// path (no oneDNN), so a model on the CPU runs the reference kernels, the oracle the GPU's are
// checked against; a model on a GPU runs its CUDA kernels.
#include "../src/cuda/cuda_device.h"
#include "../src/kernels/cuda/cuda_kernels.h"
#include "../src/kernels/kernels.h"

namespace rm {

KernelChoice choose_kernels(Device& device, Impl, Precision precision, Bf16Kernels bf16) {
  if (device.kind() == DeviceKind::Cuda) return choose_cuda_kernels(static_cast<CudaDevice&>(device), precision, bf16);
  return {cpu_reference_kernels(), false};
}

}  // namespace rm
