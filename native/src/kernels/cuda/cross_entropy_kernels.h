// Softmax cross-entropy's CUDA kernel, one block per row: the row's maximum (its first position
// wins ties, as on the CPU), log Σ exp, the loss and, when asked, dlogits = (softmax − one-hot) ·
// scale. Each row's loss (double) and hit go to per-row buffers, which the host sums in row order
// (sum_rows), so the loss is the same every time. Written in warp_primitives.cuh's names, so
// native/tools/warp_emulation.h runs this source on the CPU; the includer provides one of them.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "../../core/common.h"
#include "../kernels.h"

namespace rm::cross_entropy {

constexpr int kRowThreads = 256;
constexpr int kNoIndex = 0x7fffffff;

// The block's maximum and its first index; every thread gets the result.
RM_DEVICE_INLINE void block_argmax(float& value, int& index) {
  RM_SHARED float values[32];
  RM_SHARED int indices[32];
  auto warp_argmax = [&] {
    for (int offset = 16; offset > 0; offset /= 2) {
      float v = shfl_xor(value, offset);
      int i = shfl_xor(index, offset);
      if (v > value || (v == value && i < index)) value = v, index = i;
    }
  };
  warp_argmax();
  int warp = thread_index() / 32, lane = thread_index() % 32;
  if (lane == 0) values[warp] = value, indices[warp] = index;
  sync_block();
  if (warp == 0) {
    int warps = block_size() / 32;
    value = lane < warps ? values[lane] : -INFINITY;
    index = lane < warps ? indices[lane] : kNoIndex;
    warp_argmax();
    if (lane == 0) values[0] = value, indices[0] = index;
  }
  sync_block();
  value = values[0];
  index = indices[0];
  sync_block();
}

// The block's sum; every thread gets it.
RM_DEVICE_INLINE float block_sum(float x) {
  RM_SHARED float partial[32];
  x = warp_total(x);
  int warp = thread_index() / 32, lane = thread_index() % 32;
  if (lane == 0) partial[warp] = x;
  sync_block();
  if (warp == 0) {
    x = lane < block_size() / 32 ? partial[lane] : 0.0f;
    x = warp_total(x);
    if (lane == 0) partial[0] = x;
  }
  sync_block();
  x = partial[0];
  sync_block();
  return x;
}

// correct[n] = -1 marks a label outside [0, V) (the host names it). Logits and their gradient
// fp32 or 16-bit (Elements).
RM_KERNEL void row_kernel(Elements dlogits, double* losses, int32_t* correct, Elements logits, const int32_t* targets, size_t V,
                          float scale) {
  size_t n = size_t(block_index_x());
  int t = thread_index(), threads = block_size();
  Elements z = logits.at(n * V);
  int32_t target = targets[n];
  if (target < 0 || size_t(target) >= V) {  // the whole block leaves
    if (t == 0) correct[n] = -1;
    return;
  }
  float m = -INFINITY;
  int arg = kNoIndex;
  for (size_t v = t; v < V; v += threads)
    if (z.get(v) > m || arg == kNoIndex) m = z.get(v), arg = int(v);  // the first position wins, even in a row of -inf
  block_argmax(m, arg);
  float s = 0.0f;
  for (size_t v = t; v < V; v += threads) s += expf(z.get(v) - m);
  float sum = block_sum(s);
  if (t == 0) {
    losses[n] = double(logf(sum)) + double(m) - double(z.get(target));
    correct[n] = arg == target ? 1 : 0;
  }
  if (dlogits) {
    float inv = 1.0f / sum;
    for (size_t v = t; v < V; v += threads) dlogits.set(n * V + v, (expf(z.get(v) - m) * inv - (int(v) == target ? 1.0f : 0.0f)) * scale);
  }
}

// The launch, for StreamLaunch (the GPU) or EmulatedLaunch (the CPU): scale = grad_scale / N.
template <class Launch>
void rows(const Launch& launch, Elements dlogits, double* losses, int32_t* correct, Elements logits, const int32_t* targets,
          size_t N, size_t V, float grad_scale) {
  launch(row_kernel, N, 1, kRowThreads, dlogits, losses, correct, logits, targets, V, grad_scale / float(N));
}

// The rows' losses and hits summed in row order (host memory); `label(n)` reads row n's label for
// the message when it is out of range.
template <class Label>
CrossEntropyResult sum_rows(const double* losses, const int32_t* correct, size_t N, size_t V, Label&& label) {
  CrossEntropyResult r{0.0, 0};
  for (size_t n = 0; n < N; ++n) {
    if (correct[n] < 0)
      throw NativeError("INVALID_ARGUMENT", "label " + std::to_string(label(n)) + " at row " + std::to_string(n) + " is outside [0, " +
                                                std::to_string(V) + ")");
    r.loss_sum += losses[n];
    r.correct += size_t(correct[n]);
  }
  return r;
}

}  // namespace rm::cross_entropy
