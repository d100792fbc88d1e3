#include "shm_allreduce.h"

#include <algorithm>
#include <cstring>

#include "../core/common.h"

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

namespace rm {

static size_t stride_for(size_t n) { return (n + 15) / 16 * 16; }

SharedBuffers::SharedBuffers(const std::string& name, int rank, int size, size_t n, int moments, bool compute_copy, bool create,
                             std::chrono::milliseconds timeout)
    // size gradient buffers, the parameters, the moments, the compute copy, then kMaxSums
    // doubles per rank for partial sums (the norm's, the loss)
    : n_(n), stride_(stride_for(n)), moments_(moments), compute_copy_(compute_copy ? 1 : 0),
      segment_(name, rank, size, size_t(size + 1 + moments + compute_copy_) * stride_for(n) * sizeof(float) + ShmSegment::kMaxRanks * kMaxSums * sizeof(double),
               create, timeout) {}

__attribute__((target_clones("avx512f", "avx2", "default")))
static double scale_and_square(float* p, size_t n, float scale) {
  constexpr size_t kBlock = 2048;
  double total = 0;
  for (size_t b = 0; b < n; b += kBlock) {
    size_t end = std::min(n, b + kBlock);
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (size_t i = b; i < end; ++i) {
      p[i] *= scale;
      s += p[i] * p[i];
    }
    total += s;
  }
  return total;
}

double SharedBuffers::reduce_shard(Range bucket, Range* slice, const AcrossMachines& across, int world) {
  const int size = segment_.size(), rank = segment_.rank();
  size_t len = bucket.end - bucket.begin;
  size_t begin = bucket.begin + len * size_t(rank) / size_t(size), end = bucket.begin + len * size_t(rank + 1) / size_t(size);
  *slice = {begin, end};
  constexpr size_t kBlock = 2048;  // the sum of a block stays in L1 while it is written back
  alignas(64) float block[kBlock];
  float* slots[ShmSegment::kMaxRanks];
  segment_.barrier();  // every local rank's gradients of the bucket are complete
  // One machine: average while summing. Several: sum here, average after the machines' sums.
  float scale = across ? 1.0f : 1.0f / float(size);
  double squares = 0;
  for (size_t i = begin; i < end; i += kBlock) {
    size_t n = std::min(kBlock, end - i);
    for (int q = 0; q < size; ++q) slots[q] = buffer(q) + i;
    sum_slots(block, slots, size, n, scale);
    if (!across) squares += scale_and_square(block, n, 1.0f);
    std::memcpy(mine() + i, block, n * sizeof(float));
  }
  if (!across) return squares;
  float remaining = across(mine() + begin, end - begin, 1.0f / float(world));
  return scale_and_square(mine() + begin, end - begin, remaining);
}

void SharedBuffers::sum_over_ranks(double* values, size_t n) {
  RM_CHECK(n <= kMaxSums, "INVALID_ARGUMENT", "at most " + std::to_string(kMaxSums) + " sums at once");
  double* partial = partial_sums();
  for (size_t i = 0; i < n; ++i) partial[size_t(segment_.rank()) * kMaxSums + i] = values[i];
  segment_.barrier();  // every rank's values are written
  for (size_t i = 0; i < n; ++i) {
    double total = 0;
    for (int q = 0; q < segment_.size(); ++q) total += partial[size_t(q) * kMaxSums + i];
    values[i] = total;
  }
}

void SharedBuffers::all_reduce(ReduceOp op) {
  const int size = segment_.size(), rank = segment_.rank();
  float scale = op == ReduceOp::Avg ? 1.0f / float(size) : 1.0f;
  size_t begin = n_ * size_t(rank) / size_t(size), end = n_ * size_t(rank + 1) / size_t(size);
  constexpr size_t kBlock = 2048;  // the sum of a block stays in L1 while it is written back
  alignas(64) float block[kBlock];
  float* slots[ShmSegment::kMaxRanks];
  segment_.barrier();  // every rank's buffer is complete
  for (size_t i = begin; i < end; i += kBlock) {
    size_t len = std::min(kBlock, end - i);
    for (int q = 0; q < size; ++q) slots[q] = buffer(q) + i;
    sum_slots(block, slots, size, len, scale);
    for (int q = 0; q < size; ++q) std::memcpy(buffer(q) + i, block, len * sizeof(float));
  }
  segment_.barrier();  // every slice is written everywhere
}

}  // namespace rm
