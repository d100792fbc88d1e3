// Σ x² for the gradient norm on the GPU, in a fixed order: a fixed grid of kBlocks blocks, each
// reducing its grid-stride share in double in a fixed tree into partials[block], which the host
// sums in block order (sum_partials). Written in warp_primitives.cuh's names, so
// native/tools/warp_emulation.h runs this source on the CPU; the includer provides one of them.
#pragma once

#include <cstddef>

namespace rm::squares {

constexpr int kBlocks = 512, kThreads = 256;

RM_KERNEL void partial_kernel(double* partials, const float* x, size_t n) {
  RM_SHARED double warps[kThreads / 32];
  double s = 0.0;  // in double, as the CPU's: a large finite gradient must not square to inf
  size_t stride = size_t(grid_size_x()) * block_size();
  for (size_t i = size_t(block_index_x()) * block_size() + thread_index(); i < n; i += stride) s += double(x[i]) * x[i];
  s = warp_total(s);
  if (thread_index() % 32 == 0) warps[thread_index() / 32] = s;
  sync_block();
  if (thread_index() == 0) {
    double total = 0;
    for (int w = 0; w < kThreads / 32; ++w) total += warps[w];
    partials[block_index_x()] = total;
  }
}

// The launch, for StreamLaunch (the GPU) or EmulatedLaunch (the CPU): partials holds kBlocks.
template <class Launch>
void partials(const Launch& launch, double* partials, const float* x, size_t n) {
  launch(partial_kernel, kBlocks, 1, kThreads, partials, x, n);
}

inline double sum_partials(const double* partials) {
  double total = 0;
  for (int b = 0; b < kBlocks; ++b) total += partials[b];
  return total;
}

}  // namespace rm::squares
