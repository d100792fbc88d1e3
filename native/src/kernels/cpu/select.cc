// Which kernels a model runs, by its device (kernels.h: choose_kernels).
#include "../../core/common.h"
#include "matmul_peak.h"
#include "../kernels.h"
#ifdef RINGMASTER_WITH_CUDA
#include "../../cuda/cuda_device.h"
#include "../cuda/cuda_kernels.h"
#endif

namespace rm {

KernelChoice choose_kernels(Device& device, Impl impl, Precision precision, Bf16Kernels bf16) {
  if (device.kind() == DeviceKind::Cuda) {
#ifdef RINGMASTER_WITH_CUDA
    return choose_cuda_kernels(static_cast<CudaDevice&>(device), precision, bf16);
#else
    throw NativeError("CUDA_UNAVAILABLE", "this build of Ringmaster has no CUDA");
#endif
  }
  bool bf16_matmuls = precision == Precision::BF16 && impl == Impl::Fast &&
                      (bf16 == Bf16Kernels::On || (bf16 == Bf16Kernels::Auto && bf16_probe().pays_off));
  return {cpu_kernels(impl, bf16_matmuls), bf16_matmuls};
}

}  // namespace rm
