// The CUDA kernels: the Kernels interface (kernels/kernels.h) on one GPU, every pointer a device
// pointer, all work queued on the device's stream in call order. Matrix products (and the
// convolutions, as im2col products) go through cuBLASLt with fp32 accumulation and its bias/ReLU
// epilogues, their operands in fp32, or (bf16 and fp16 precision: the values are rounded to that
// type already) in 16 bits on the tensor cores, the same products up to the summation order; the element- and row-wise kernels take their per-element math from
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
  // `gemm_inputs`: F32, or BF16 / F16 for 16-bit matrix operands.
  CudaKernels(CudaDevice& device, Precision gemm_inputs);
  ~CudaKernels() override;
  CudaKernels(const CudaKernels&) = delete;
  CudaKernels& operator=(const CudaKernels&) = delete;
  RM_KERNELS_OVERRIDES

  CudaDevice& device() const { return device_; }
  static constexpr size_t kWorkspaceBytes = size_t(32) << 20;  // cuBLASLt's: enough for its split-K kernels on Hopper

  // What a product applies to its result after the bias, in cuBLASLt's epilogue: nothing, ReLU,
  // GELU writing its input (the result before it) to `aux`, or GELU's derivative at `aux`, the
  // result being the gradient of GELU's output (aux shaped as C, its ld ldc).
  enum class After { Nothing, Relu, GeluKeepInput, GeluGradient };

  // C (col-major m×n, ldc) = op(A)·op(B) (+ C when accumulate), then + bias[m] and `after`:
  // cuBLASLt, fp32 accumulation, A and B in this instance's gemm inputs' type (fp32 views of
  // 16-bit inputs are converted first), C fp32 or (16-bit gemm inputs) in their type, aux in C's.
  // A is m×k (k×m when ta), B k×n (n×k when tb), both col-major. False (nothing done) where
  // cuBLASLt has no algorithm for a GELU epilogue; any other failure throws.
  bool gemm(bool ta, bool tb, size_t m, size_t n, size_t k, ConstView A, size_t lda, ConstView B, size_t ldb, View C,
            size_t ldc, bool accumulate, const float* bias = nullptr, After after = After::Nothing, View aux = {});
  // gemm on operands already in this instance's gemm inputs' type (16-bit encodings under BF16 and
  // F16), the bias in C's type: what gemm runs once it has converted what needed it, and what a
  // GEMM's peak is measured on.
  bool gemm_operands(bool ta, bool tb, size_t m, size_t n, size_t k, const void* A, size_t lda, const void* B, size_t ldb,
                     View C, size_t ldc, bool accumulate, const void* bias = nullptr, After after = After::Nothing,
                     View aux = {});
  Precision gemm_inputs() const { return gemm_inputs_; }
  DType activation_dtype(Precision precision) const override;
  void matmul_gelu_forward(View out, View pre, ConstView in, const float* weight, const float* bias, size_t N, size_t IN,
                           size_t OUT) override;
  void matmul_gelu_backward_data(View dpre, ConstView dout, const float* weight, ConstView pre, size_t N, size_t IN,
                                 size_t OUT) override;

 private:
  // The device's stream, with the device made current on the calling thread (the engine's native
  // calls run on whichever worker thread N-API gives them; the runtime's device is per thread).
  cudaStream_t stream() const {
    device_.make_current();
    return device_.stream();
  }
  // Device memory of at least `floats` floats kept between calls, one buffer per slot (kScratch).
  float* scratch(int slot, size_t floats);
  // v's n values as fp32: v itself, or a copy in scratch `slot`.
  const float* fp32_of(int slot, ConstView v, size_t n);
  // dst[n] ← src (rounded to dst's type).
  void convert(Elements dst, const float* src, size_t n);
  // The first `n` floats from `src` as 16-bit values in scratch `slot` (0, 1: a product's operands;
  // 2: its bias; 3: a backward's output gradient, shared by its two products).
  const uint16_t* half_copy(int slot, const float* src, size_t n);
  // dbias[o] (+)= Σ_n dout[n, o] for o in [o0, o1) of dout[N, OUT].
  void column_sums(float* dbias, ConstView dout, size_t N, size_t OUT, size_t o0, size_t o1, bool accumulate);

  CudaDevice& device_;
  Precision gemm_inputs_;
  void* lt_ = nullptr;         // cublasLtHandle_t
  void* workspace_ = nullptr;  // cuBLASLt's
  // Device memory kept between calls, grown (never shrunk) to the largest size asked for.
  template <class T>
  struct Scratch {
    T* data = nullptr;
    size_t count = 0;
    T* at_least(CudaDevice& device, size_t n) {
      if (count < n) {
        device.release(data, count * sizeof(T));  // in stream order: after the kernels that use it
        data = nullptr;
        count = 0;
        data = static_cast<T*>(device.allocate(n * sizeof(T)));
        count = n;
      }
      return data;
    }
    void release(CudaDevice& device) { device.release(data, count * sizeof(T)); }
  };
  static constexpr int kScratch = 7;
  Scratch<float> scratch_[kScratch];
  Scratch<uint16_t> half_[4];  // the 16-bit operands of a product, its bias, a shared output gradient
  double* row_losses_ = nullptr;  // cross_entropy: per row, copied to the host and summed in order
  int32_t* row_correct_ = nullptr;
  size_t rows_ = 0;
};

// The kernels of GPU `index` with `gemm_inputs` matrix operands, created on first use
// (CUDA_UNAVAILABLE without that GPU, or without cuBLASLt).
Kernels& cuda_kernels(int index, Precision gemm_inputs = Precision::F32);

// What a model on `device` in `precision` runs (kernels.h: choose_kernels): 16-bit matrix
// operands in bf16 or fp16 precision, unless `bf16` is Off.
KernelChoice choose_cuda_kernels(CudaDevice& device, Precision precision, Bf16Kernels bf16);

}  // namespace rm
