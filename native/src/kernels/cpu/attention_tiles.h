// The causal softmax passes of attention, forward and backward, on one head's T×T tile of scores.
// Inline, so each caller compiles them for the instruction set it targets (the oneDNN path's
// target_clones, the AVX-512-BF16 kernels' target).
//
// They work on one head's T×T tile stored transposed (tile[j·T + i] = s_ij, key
// j's scores for every query: the products write it so), 16 query rows at a time, one per vector
// lane: no horizontal reductions and no per-row loop set-up, which cost more than the arithmetic
// at T = 64 (37 against 80 ns a row). A row's max and sum run over j in order, so its bits do not
// depend on where the tile sits (see fixed_order_sum.h). Lanes: 16, or the rows left at the end.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../../core/math.h"

namespace rm {

// m[l] = max over the keys j ≤ i0 + l of tile[j][i0 + l]·scale: the rows left at the end of a tile.
__attribute__((always_inline)) inline void group_max(float* m, const float* tile, size_t i0, int L, size_t T, float scale) {
  for (int l = 0; l < L; ++l) m[l] = -INFINITY;
  for (size_t j = 0; j < i0 + size_t(L); ++j)
    for (int l = 0; l < L; ++l) m[l] = std::max(m[l], j <= i0 + l ? tile[j * T + i0 + l] * scale : -INFINITY);
}

// A whole group of 16 rows, the running maxima in one register (as an array, GCC unrolled the
// lanes into scalar code, or kept the vector on the stack).
__attribute__((always_inline)) inline void group_max(float* m, const float* tile, size_t i0, std::integral_constant<int, 16>, size_t T,
                                                     float scale) {
  typedef float F16 __attribute__((vector_size(64)));
  typedef int32_t I16 __attribute__((vector_size(64)));
  const I16 lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  F16 max = F16{} - INFINITY;
  for (size_t j = 0; j < i0 + 16; ++j) {
    F16 c;
    std::memcpy(&c, tile + j * T + i0, sizeof c);
    c *= scale;
    F16 seen = j < i0 ? c : (lane >= int32_t(j - i0) ? c : F16{} - INFINITY);  // lane l sees key j if j ≤ i0 + l
    max = max < seen ? seen : max;
  }
  std::memcpy(m, &max, sizeof max);
}

template <class Lanes>
__attribute__((always_inline)) inline void softmax_group(float* tile, float* lse, float* row_scale, size_t i0, Lanes L, size_t T, float scale) {
  float m[16], sum[16], inv[16];
  for (int l = 0; l < L; ++l) sum[l] = 0.0f;
  size_t seen = i0 + size_t(L);  // keys some row of the group sees
  group_max(m, tile, i0, L, T, scale);
  for (size_t j = 0; j < seen; ++j) {
    float* c = tile + j * T + i0;
    for (int l = 0; l < L; ++l) {
      float e = j <= i0 + l ? exp_fast(c[l] * scale - m[l]) : 0.0f;
      c[l] = e;
      sum[l] += e;
    }
  }
  for (int l = 0; l < L; ++l) inv[l] = 1.0f / sum[l];
  for (int l = 0; l < L; ++l) lse[i0 + l] = m[l] + std::log(sum[l]);
  if (row_scale) {
    for (int l = 0; l < L; ++l) row_scale[i0 + l] = inv[l];
    return;
  }
  for (size_t j = 0; j < T; ++j) {
    float* c = tile + j * T + i0;
    for (int l = 0; l < L; ++l) c[l] = j < seen ? c[l] * inv[l] : 0.0f;
  }
}

// Scores → probabilities p_ij = exp(s_ij·scale − max_i) / Σ_i for j ≤ i, 0 after; lse[i] = log Σ_j
// exp(s_ij·scale). With row_scale, the tile keeps the numerators for j < i's block end (0 for j > i
// within it; the blocks after it untouched) and row_scale[i] = 1 / Σ_i, for a product that
// normalises its output rows instead.
__attribute__((always_inline)) inline void softmax_lanes(float* tile, float* lse, size_t T, float scale, float* row_scale = nullptr) {
  size_t i0 = 0;
  for (; i0 + 16 <= T; i0 += 16) softmax_group(tile, lse, row_scale, i0, std::integral_constant<int, 16>{}, T, scale);
  if (i0 < T) softmax_group(tile, lse, row_scale, i0, int(T - i0), T, scale);
}

template <class Lanes>
__attribute__((always_inline)) inline void softmax_backward_group(float* p, float* dp, const float* lse, const float* delta, size_t i0,
                                                                  Lanes L, size_t T, float scale) {
  size_t seen = i0 + size_t(L);  // keys some row of the group sees
  for (size_t j = 0; j < seen; ++j) {
    float *pc = p + j * T + i0, *dc = dp + j * T + i0;
    for (int l = 0; l < L; ++l) {
      bool sees = j <= i0 + l;
      float pj = sees ? exp_fast(pc[l] * scale - lse[i0 + l]) : 0.0f;
      pc[l] = pj;
      dc[l] = sees ? pj * (dc[l] - delta[i0 + l]) * scale : 0.0f;
    }
  }
  for (size_t j = seen; j < T; ++j)
    for (int l = 0; l < L; ++l) p[j * T + i0 + l] = dp[j * T + i0 + l] = 0.0f;
}

// Backward: p (scores in, probabilities out) = exp(s·scale − lse) for j ≤ i; ds = p·(dp − δ_i)·scale
// into dp, δ_i = dy_i·y_i; both 0 after the diagonal. Both tiles transposed, as softmax_tile's.
__attribute__((always_inline)) inline void softmax_backward_lanes(float* p, float* dp, const float* lse, const float* delta, size_t T, float scale) {
  size_t i0 = 0;
  for (; i0 + 16 <= T; i0 += 16) softmax_backward_group(p, dp, lse, delta, i0, std::integral_constant<int, 16>{}, T, scale);
  if (i0 < T) softmax_backward_group(p, dp, lse, delta, i0, int(T - i0), T, scale);
}

}  // namespace rm
