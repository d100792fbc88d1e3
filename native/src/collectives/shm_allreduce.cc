#include "shm_allreduce.h"

#include <algorithm>
#include <cstring>

#include "../common.h"

namespace rm {

ShmAllReduce::ShmAllReduce(const std::string& name, int rank, int size, bool create, std::chrono::milliseconds timeout)
    // Two buffer sets, each with one slot per rank and one result area.
    : segment_(name, rank, size, 2 * size_t(size + 1) * kChunkBytes, create, timeout) {}

char* ShmAllReduce::slot(int set, int rank) {
  return segment_.data() + (size_t(set) * size_t(segment_.size() + 1) + size_t(rank)) * kChunkBytes;
}

char* ShmAllReduce::result(int set) { return slot(set, segment_.size()); }

// out[i] = Σ_q slots[q][i], then · scale (averages), for i in [0, n)
template <class T>
__attribute__((target_clones("avx512f", "avx2", "default")))
static void sum_slots(T* __restrict out, T* const* slots, int count, size_t n, T scale) {
  for (size_t i = 0; i < n; ++i) out[i] = slots[0][i];
  for (int q = 1; q < count; ++q) {
    const T* __restrict s = slots[q];
    for (size_t i = 0; i < n; ++i) out[i] += s[i];
  }
  if (scale != T(1))
    for (size_t i = 0; i < n; ++i) out[i] *= scale;
}

template <class T>
void ShmAllReduce::reduce(T* data, size_t n, ReduceOp op) {
  constexpr size_t chunk = kChunkBytes / sizeof(T);
  const int size = segment_.size(), rank = segment_.rank();
  T scale = op == ReduceOp::Avg ? T(1) / T(size) : T(1);
  T* slots[ShmSegment::kMaxRanks];
  for (size_t off = 0; off < n; off += chunk) {
    size_t len = std::min(chunk, n - off);
    int set = int(chunks_++ & 1);
    std::memcpy(slot(set, rank), data + off, len * sizeof(T));
    segment_.barrier();
    size_t begin = len * size_t(rank) / size_t(size), end = len * size_t(rank + 1) / size_t(size);
    for (int q = 0; q < size; ++q) slots[q] = reinterpret_cast<T*>(slot(set, q)) + begin;
    sum_slots(reinterpret_cast<T*>(result(set)) + begin, slots, size, end - begin, scale);
    segment_.barrier();
    std::memcpy(data + off, result(set), len * sizeof(T));
  }
}

void ShmAllReduce::all_reduce(void* data, size_t n, DType t, ReduceOp op) {
  if (t == DType::F32) return reduce(static_cast<float*>(data), n, op);
  if (t == DType::F64) return reduce(static_cast<double*>(data), n, op);
  throw NativeError("INVALID_ARGUMENT", "shared-memory all-reduce takes float32 or float64");
}

}  // namespace rm
