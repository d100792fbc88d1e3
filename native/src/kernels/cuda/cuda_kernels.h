// The CUDA kernels: the Kernels interface (kernels/kernels.h) on one GPU, every pointer a device
// pointer, all work queued on the device's stream in call order. Matrix products (and the
// convolutions, as im2col products) go through cuBLASLt in fp32 with fp32 accumulation and its
// bias/ReLU epilogues; the element- and row-wise kernels take their per-element math from
// core/math.h, the header the CPU loops use, so no formula is written twice. Every reduction
// runs in a fixed order (no atomics), so a step computes the same bits every time and a resumed
// run continues bit for bit, as on the CPU.
#pragma once

#include <cstdint>
#include <vector>

#include "../../cuda/cuda_device.h"
#include "../kernels.h"

namespace rm {

class CudaKernels final : public Kernels {
 public:
  explicit CudaKernels(CudaDevice& device);
  ~CudaKernels() override;
  CudaKernels(const CudaKernels&) = delete;
  CudaKernels& operator=(const CudaKernels&) = delete;
  RM_KERNELS_OVERRIDES

  CudaDevice& device() const { return device_; }
  static constexpr size_t kWorkspaceBytes = size_t(32) << 20;  // cuBLASLt's: enough for its split-K kernels on Hopper

  // C (col-major m×n, ldc) = op(A)·op(B) (+ C when accumulate), then + bias[m] and ReLU where
  // asked: cuBLASLt in fp32. A is m×k (k×m when ta), B k×n (n×k when tb), both col-major.
  void gemm(bool ta, bool tb, size_t m, size_t n, size_t k, const float* A, size_t lda, const float* B, size_t ldb,
            float* C, size_t ldc, bool accumulate, const float* bias = nullptr, bool relu = false);

 private:
  // The device's stream, with the device made current on the calling thread (the engine's native
  // calls run on whichever worker thread N-API gives them; the runtime's device is per thread).
  cudaStream_t stream() const {
    device_.make_current();
    return device_.stream();
  }
  // Device memory of at least `floats` floats kept between calls, one buffer per slot.
  float* scratch(int slot, size_t floats);
  // dbias[o] (+)= Σ_n dout[n, o] for o in [o0, o1) of dout[N, OUT].
  void column_sums(float* dbias, const float* dout, size_t N, size_t OUT, size_t o0, size_t o1, bool accumulate);

  CudaDevice& device_;
  void* lt_ = nullptr;         // cublasLtHandle_t
  void* workspace_ = nullptr;  // cuBLASLt's
  struct Buffer {
    float* data = nullptr;
    size_t floats = 0;
  };
  Buffer scratch_[3];
  double* row_losses_ = nullptr;  // cross_entropy: per row, copied to the host and summed in order
  int32_t* row_correct_ = nullptr;
  size_t rows_ = 0;
};

// The kernels of GPU `index`, created on first use (CUDA_UNAVAILABLE without that GPU, or
// without cuBLASLt).
Kernels& cuda_kernels(int index);

}  // namespace rm
