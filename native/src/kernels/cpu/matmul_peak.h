// The matrix-product throughput oneDNN reaches on this machine: the yardstick bench/ and MFU
// are reported against, and what decides whether bf16 kernels pay off here.
#pragma once

#include <cstddef>

namespace rm {

// GFLOP/s of dst[M, N] = src[M, K] · weights[K, N] in fp32, or with bf16 inputs (fp32
// accumulation and output), on the calling thread's OpenMP threads; the best of five blocks
// that together take about `seconds`.
double matmul_gflops(size_t M, size_t K, size_t N, bool bf16, double seconds);

// Measured once per process, on one thread: fp32 and bf16 GFLOP/s of a 512³ product, and
// whether bf16 kernels beat fp32 ones by kBf16Margin (a margin, so that a CPU near parity does
// not flip between runs and break bit-exact resume).
struct Bf16Probe {
  double fp32_gflops, bf16_gflops;
  bool pays_off;
};
constexpr double kBf16Margin = 1.25;
const Bf16Probe& bf16_probe();

}  // namespace rm
