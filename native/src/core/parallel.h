// Static, deterministic work splitting over the compute threads of the calling rank.
//
// The split depends only on n, grain and the thread count, so a run with the same thread count
// reduces in the same order every time (bit-identical losses across runs).
#pragma once

#include <omp.h>
#if defined(__x86_64__)
#include <pmmintrin.h>
#endif

#include <algorithm>
#include <cstddef>
#include <vector>

namespace rm {

// How many ranges [0, n) is split into: at most one per thread, none shorter than `grain`.
inline size_t chunk_count(size_t n, size_t grain) {
  size_t threads = static_cast<size_t>(omp_get_max_threads());
  return std::max<size_t>(1, std::min(threads, n / std::max<size_t>(grain, 1)));
}

// Calls f(chunk, begin, end) for each of `chunks` equal, disjoint ranges covering [0, n).
template <class F>
void for_each_chunk(size_t n, size_t chunks, F&& f) {
  if (chunks == 1) {
    f(size_t{0}, size_t{0}, n);
    return;
  }
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static, 1)
  for (size_t c = 0; c < chunks; ++c) f(c, n * c / chunks, n * (c + 1) / chunks);
}

// Calls f(begin, end) on disjoint ranges covering [0, n), split across the threads.
template <class F>
void parallel_for(size_t n, size_t grain, F&& f) {
  for_each_chunk(n, chunk_count(n, grain), [&](size_t, size_t b, size_t e) { f(b, e); });
}

// Σ f(begin, end) over the ranges, added in chunk order (deterministic for a thread count).
template <class F>
double parallel_sum(size_t n, size_t grain, F&& f) {
  size_t chunks = chunk_count(n, grain);
  std::vector<double> partial(chunks, 0.0);
  for_each_chunk(n, chunks, [&](size_t c, size_t b, size_t e) { partial[c] = f(b, e); });
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

// Sets this thread's compute thread count and makes it and its OpenMP team flush denormal
// floats to zero (FTZ/DAZ, as TensorFlow does by default on CPUs). Without it, AdamW moments of
// parameters whose gradient stays zero (dead ReLU units) decay into denormals after ~850 steps,
// and every operation on them takes a microcode assist: the optimizer ran 5× slower.
inline void enter_compute_threads(int threads) {
  omp_set_num_threads(threads);
#if defined(__x86_64__)
#pragma omp parallel
  {
    _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
    _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
  }
#endif
}

}  // namespace rm
