// The CUDA kernels' lifetime: cuBLASLt's handle and workspace, scratch memory, one set per GPU.
#include "cuda_kernels.h"

#include <cublasLt.h>

#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "../../cuda/libraries.h"
#include "cuda_common.cuh"

namespace rm {

CudaKernels::CudaKernels(CudaDevice& device, Precision gemm_inputs) : device_(device), gemm_inputs_(gemm_inputs) {
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
  for (auto& b : scratch_) b.release(device_);
  for (auto& h : half_) h.release(device_);
  device_.release(row_losses_, rows_ * sizeof(double));
  device_.release(row_correct_, rows_ * sizeof(int32_t));
}

const char* CudaKernels::name() const {
  return gemm_inputs_ == Precision::BF16 ? "cuda-bf16" : gemm_inputs_ == Precision::F16 ? "cuda-fp16" : "cuda";
}

// 16-bit activations wherever the products take 16-bit operands in the model's precision.
DType CudaKernels::activation_dtype(Precision precision) const {
  if (gemm_inputs_ == Precision::F32 || precision != gemm_inputs_) return DType::F32;
  return gemm_inputs_ == Precision::BF16 ? DType::BF16 : DType::F16;
}

float* CudaKernels::scratch(int slot, size_t floats) { return scratch_[slot].at_least(device_, floats); }

const float* CudaKernels::fp32_of(int slot, ConstView v, size_t n) {
  if (v.is_f32()) return v.f32();
  float* copy = scratch(slot, n);
  launch_elements(elements::Convert{copy, elements_of(v)}, n, stream(), "fp32 copy of activations");
  return copy;
}

void CudaKernels::convert(Elements dst, const float* src, size_t n) {
  launch_elements(elements::Convert{dst, src}, n, stream(), "activations from fp32");
}

const uint16_t* CudaKernels::half_copy(int slot, const float* src, size_t n) {
  uint16_t* copy = half_[slot].at_least(device_, n);
  launch_elements(elements::ToHalf{copy, src, gemm_inputs_}, n, stream(), "16-bit operand copy");
  return copy;
}

Kernels& cuda_kernels(int index, Precision gemm_inputs) {
  static std::mutex mutex;
  static std::map<std::pair<int, Precision>, std::unique_ptr<CudaKernels>> all;
  std::lock_guard<std::mutex> lock(mutex);
  auto& k = all[{index, gemm_inputs}];
  if (!k) k = std::make_unique<CudaKernels>(cuda_device(index), gemm_inputs);
  return *k;
}

KernelChoice choose_cuda_kernels(CudaDevice& device, Precision precision, Bf16Kernels bf16) {
  Precision inputs = precision != Precision::F32 && bf16 != Bf16Kernels::Off ? precision : Precision::F32;
  return {cuda_kernels(device.index(), inputs), inputs == Precision::BF16};
}

}  // namespace rm
