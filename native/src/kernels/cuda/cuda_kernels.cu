// The CUDA kernels' lifetime: cuBLASLt's handle and workspace, scratch memory, one set per GPU.
#include "cuda_kernels.h"

#include <cublasLt.h>

#include <memory>
#include <mutex>

#include "../../cuda/libraries.h"

namespace rm {

CudaKernels::CudaKernels(CudaDevice& device) : device_(device) {
  device_.make_current();
  cublasLtHandle_t handle = nullptr;
  check_cublas(cublaslt().create(&handle), "creating a cuBLASLt handle on " + device_.name());
  lt_ = handle;
  workspace_ = device_.allocate(kWorkspaceBytes);
}

CudaKernels::~CudaKernels() {
  // Process exit: the runtime may be gone already, so nothing here may throw. cuBLASLt's
  // handle goes with the process.
  device_.release(workspace_, kWorkspaceBytes);
  for (auto& b : scratch_) device_.release(b.data, b.floats * sizeof(float));
  device_.release(row_losses_, rows_ * sizeof(double));
  device_.release(row_correct_, rows_ * sizeof(int32_t));
}

const char* CudaKernels::name() const { return "cuda"; }

float* CudaKernels::scratch(int slot, size_t floats) {
  Buffer& b = scratch_[slot];
  if (b.floats < floats) {
    device_.synchronize();  // queued kernels may still use the old buffer
    device_.release(b.data, b.floats * sizeof(float));
    b.data = nullptr;
    b.floats = 0;
    b.data = static_cast<float*>(device_.allocate(floats * sizeof(float)));
    b.floats = floats;
  }
  return b.data;
}

Kernels& cuda_kernels(int index) {
  static std::mutex mutex;
  static std::vector<std::unique_ptr<CudaKernels>> all;
  std::lock_guard<std::mutex> lock(mutex);
  if (index >= 0 && size_t(index) < all.size() && all[index]) return *all[index];
  auto k = std::make_unique<CudaKernels>(cuda_device(index));
  if (all.size() <= size_t(index)) all.resize(index + 1);
  all[index] = std::move(k);
  return *all[index];
}

}  // namespace rm
