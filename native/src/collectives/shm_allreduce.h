// All-reduce through shared memory for the ranks of one machine, as NCCL does within a node:
// no sockets, each rank touches every byte about four times at memory speed.
//
// Per chunk of up to kChunkBytes: every rank copies its chunk into its own slot; barrier; rank r
// sums slice r of the chunk over all slots into the result area; barrier; every rank copies the
// whole result out. Slots and results are double-buffered, so two barriers per chunk suffice.
// Barriers are per-rank counters in the segment; a barrier that times out names the ranks that
// never arrived.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "../core/common.h"
#include "process_group.h"
#include "shm_segment.h"

namespace rm {

class ShmAllReduce {
 public:
  static constexpr size_t kChunkBytes = size_t(512) << 10;  // small enough to stay in L2

  // The creator (local rank 0) makes the segment `name`; the others open it once it exists.
  ShmAllReduce(const std::string& name, int rank, int size, bool create, std::chrono::milliseconds timeout);

  // Removes the segment's name; the mappings stay valid. Call once every rank has opened it.
  void unlink() { segment_.unlink(); }

  // data[n] ← op over ranks of data[n]. A peer missing for the timeout: COLLECTIVE_TIMEOUT
  // naming the ranks that never arrived.
  void all_reduce(void* data, size_t n, DType t, ReduceOp op);  // float32 or float64

 private:
  template <class T>
  void reduce(T* data, size_t n, ReduceOp op);
  char* slot(int set, int rank);
  char* result(int set);

  ShmSegment segment_;
  uint64_t chunks_ = 0;  // chunks this rank has reduced (selects the buffer set)
};

}  // namespace rm

namespace rm {

// The training buffers of the data-parallel ranks of one machine, in one shared segment: a
// gradient buffer per rank, and one buffer of parameters and one per optimizer moment that
// all of them read (each rank writes only its shards of those; a checkpoint reads them whole). Either average the
// gradients in place (all_reduce: each rank sums its slice over all buffers and writes it into
// every buffer), or shard the optimizer as ZeRO stage 1 does (reduce_shard: each rank averages
// only its slice of a bucket, updates that slice of the shared parameters, and a barrier
// publishes them). With ranks on several machines, `across` all-reduces (sums) a slice with the
// ranks of the same local rank on the other machines: reduce within the machine, all-reduce
// across, and the parameters every rank of the machine reads are the broadcast back.
class SharedBuffers {
 public:
  // data[n] ← Σ over machines of data, or of scale · data: returns the factor still to apply
  // (scale, or 1 when it was applied on the way).
  using AcrossMachines = std::function<float(float* data, size_t n, float scale)>;

  // moments: optimizer moment buffers; compute_copy: a buffer for the parameters' rounded copy.
  SharedBuffers(const std::string& name, int rank, int size, size_t n, int moments, bool compute_copy, bool create,
                std::chrono::milliseconds timeout);
  void unlink() { segment_.unlink(); }
  float* mine() { return buffer(segment_.rank()); }
  float* params() { return buffer(segment_.size()); }
  float* moment(int i) { return buffer(segment_.size() + 1 + i); }
  float* compute_params() { return buffer(segment_.size() + 1 + moments_); }
  size_t count() const { return n_; }
  void all_reduce(ReduceOp op);
  // Averages this rank's slice of `bucket` over the local buffers and, when `across` is set,
  // over the other machines too (`world` ranks in all), into this rank's buffer; returns the
  // slice and Σ g² over it.
  double reduce_shard(Range bucket, Range* slice, const AcrossMachines& across, int world);
  // values[i] ← Σ over the local ranks of each one's values[i], i < n ≤ kMaxSums, through the
  // segment.
  static constexpr size_t kMaxSums = 4;
  void sum_over_ranks(double* values, size_t n);
  void barrier() { segment_.barrier(); }

 private:
  float* buffer(int q) { return reinterpret_cast<float*>(segment_.data()) + size_t(q) * stride_; }
  double* partial_sums() { return reinterpret_cast<double*>(buffer(segment_.size() + 1 + moments_ + compute_copy_)); }

  size_t n_, stride_;  // floats per buffer, and between buffers (cache-line multiple)
  int moments_, compute_copy_;
  ShmSegment segment_;
};

}  // namespace rm
