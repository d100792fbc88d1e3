// Float sums whose bits do not depend on where the data sits in memory. A vectorised reduction
// (`omp simd reduction`) lets the compiler peel iterations until an aligned address, so a row's
// sum would depend on the row's alignment: the same sample at another position in a batch (as
// when a global batch is split across data-parallel ranks) would round differently, and 2 ranks
// would drift from 1 rank with the whole batch. Here term i always joins partial sum i mod 16,
// and the 16 partials are added pairwise in a fixed order; the 16-wide inner loop still
// vectorises (with unaligned loads).
#pragma once

#include <cstddef>

namespace rm {

template <class Term>
inline float fixed_order_sum(size_t n, Term&& term) {
  float acc[16] = {};
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (size_t l = 0; l < 16; ++l) acc[l] += term(i + l);
  for (size_t l = 0; i < n; ++i, ++l) acc[l] += term(i);
  for (size_t w = 8; w >= 1; w /= 2)
    for (size_t l = 0; l < w; ++l) acc[l] += acc[l + w];
  return acc[0];
}

}  // namespace rm
