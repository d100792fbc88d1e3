// The CPU fast kernels: oneDNN for the matrix products; the rest are loops vectorised by the
// compiler (target_clones for AVX-512 and AVX2) and split across the rank's compute threads
// with parallel.h's static, deterministic split (the same thread count gives the same bits).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

#include "../kernels.h"

namespace rm {

// The oneDNN post-op of an epilogue (none, or an eltwise ReLU).
dnnl::primitive_attr epilogue_attr(Epilogue e);

class CpuKernels final : public Kernels {
 public:
  explicit CpuKernels(bool bf16_matmuls);
  ~CpuKernels() override;
  RM_KERNELS_OVERRIDES
  DType activation_dtype(Precision precision) const override;
  void matmul_gelu_forward(View out, View pre, ConstView in, const float* weight, const float* bias, size_t N, size_t IN,
                           size_t OUT) override;
  void matmul_gelu_backward_data(View dpre, ConstView dout, const float* weight, ConstView pre, size_t N, size_t IN,
                                 size_t OUT) override;

 private:
  static float* gelu_scratch(size_t n);  // this thread's fp32 product under a GELU
  bool bf16_;  // matrix products on bf16 operands (bf16 activations, or bf16 copies of rounded fp32 ones)
  struct Matmul;  // oneDNN primitives for one (N, IN, OUT), made on first use
  Matmul& matmul(size_t N, size_t IN, size_t OUT);
  dnnl::memory operand(const dnnl::memory::desc& d, ConstView values, size_t n, int slot) const;
  int destination_kind(View v) const;  // a Matmul's destination index: 0 fp32, 1 bf16
  struct WeightRows;  // sufficient factors' weight-row product for one (N, IN, OUT, rows)
  WeightRows& weight_rows(size_t N, size_t IN, size_t OUT, size_t R);
  struct Conv;  // oneDNN convolutions for one (B, H, W, IC, OC, epilogue), made on first use
  Conv& conv(size_t B, size_t H, size_t W, size_t IC, size_t OC, Epilogue epilogue);
  struct Attention;  // oneDNN batched matmuls for one (sequences, T, C, H), made on first use
  // in_place16: q, k, v and dy are bf16 activations, read in place
  Attention& attention(size_t b, size_t T, size_t C, size_t H, bool in_place16);
  std::mutex mutex_;  // guards the caches: engines of several threads share these kernels
  // Keyed by shape and by the calling thread's compute-thread count: a oneDNN primitive splits
  // its work for the team it was created with, and run on a larger team it leaves threads idle
  // (engines of 1 and 2 threads in one process each need their own). shared_ptr: its deleter
  // needs no complete type here.
  std::map<std::tuple<int, size_t, size_t, size_t>, std::shared_ptr<Matmul>> matmuls_;
  std::map<std::tuple<int, size_t, size_t, size_t, size_t, bool>, std::shared_ptr<Attention>> attentions_;
  std::map<std::tuple<int, size_t, size_t, size_t, size_t>, std::shared_ptr<WeightRows>> weight_rows_;
  std::map<std::tuple<int, size_t, size_t, size_t, size_t, size_t, Epilogue>, std::shared_ptr<Conv>> convs_;
};

}  // namespace rm
