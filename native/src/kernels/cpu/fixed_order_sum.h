// Float sums whose bits do not depend on where the data sits in memory. A vectorised reduction
// (`omp simd reduction`) lets the compiler peel iterations until an aligned address, so a row's
// sum would depend on the row's alignment: the same sample at another position in a batch (as
// when a global batch is split across data-parallel ranks) would round differently, and 2 ranks
// would drift from 1 rank with the whole batch. Here term i always joins partial sum i mod 16,
// and the 16 partials are added pairwise in a fixed order; the 16-wide inner loop still
// vectorises (with unaligned loads).
#pragma once

#include <cstddef>
#include <cstring>

namespace rm {

// acc[l] += acc[l + w] for w = 8, 4, 2, 1, then acc[0]: in registers (as scalar loops GCC went
// through the stack, one store-to-load chain a step: most of a LayerNorm row at C = 128).
inline float pairwise_sum(const float acc[16]) {
  typedef float F16 __attribute__((vector_size(64)));
  typedef float F8 __attribute__((vector_size(32)));
  typedef float F4 __attribute__((vector_size(16)));
  F16 v;
  std::memcpy(&v, acc, sizeof v);
  F8 h = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  F4 q = __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);
  F4 p = q + __builtin_shufflevector(q, q, 2, 3, 0, 1);
  return p[0] + p[1];
}

template <class Term>
inline float fixed_order_sum(size_t n, Term&& term) {
  float acc[16] = {};
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (size_t l = 0; l < 16; ++l) acc[l] += term(i + l);
  for (size_t l = 0; i < n; ++i, ++l) acc[l] += term(i);
  return pairwise_sum(acc);
}

}  // namespace rm
