// One interface for the collectives a rank needs: Gloo over TCP now, NCCL later. Every call
// blocks the calling (non-JS) thread until done or until the group's timeout, and a failure
// names the operation, its sequence number in this group, and this rank.
//
// Buffers hold `n` elements of `dtype`; all ranks call the same operations in the same order.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../core/common.h"
#include "../core/dtype.h"
#include "../train/factor_exchange.h"
#include "../precision/precision.h"

namespace rm {

enum class ReduceOp { Sum, Avg };  // Avg: floating types only

// Where the ranks of a group run: which of them share a machine (and so memory).
struct Topology {
  int machines = 1;     // distinct machines in the group
  int machine = 0;      // this rank's machine
  int local_rank = 0;   // this rank among its machine's ranks, in rank order
  int local_size = 1;   // ranks on this machine
  bool uniform = true;  // every machine holds local_size ranks
};

// One rank's training buffers (n floats each): gradients, parameters, optimizer moments.
struct TrainingState {
  float* grads = nullptr;
  float* params = nullptr;
  float* moments[2] = {nullptr, nullptr};
  int moment_count = 0;
  float* compute_params = nullptr;  // mixed precision: the rounded copy the layers read; else null
};

class ProcessGroup {
 public:
  ProcessGroup(int rank, int size) : rank_(rank), size_(size) {}
  virtual ~ProcessGroup() = default;
  int rank() const { return rank_; }
  int size() const { return size_; }
  virtual Topology topology() const = 0;
  // How long any operation may wait for the other ranks before it fails.
  virtual std::chrono::milliseconds timeout() const = 0;

  // data[n] ← op over ranks of data[n]
  virtual void all_reduce(void* data, size_t n, DType t, ReduceOp op) = 0;
  // data[n] ← root's data[n]
  virtual void broadcast(void* data, size_t n, DType t, int root) = 0;
  // out[size·n] ← the concatenation of every rank's in[n], in rank order
  virtual void all_gather(void* out, const void* in, size_t n, DType t) = 0;
  // out[n] ← op over ranks of in[rank·n, (rank+1)·n), in holding size·n elements
  virtual void reduce_scatter(void* out, const void* in, size_t n, DType t, ReduceOp op) = 0;
  virtual void send(const void* data, size_t n, DType t, int dst, uint32_t tag) = 0;
  virtual void recv(void* data, size_t n, DType t, int src, uint32_t tag) = 0;
  virtual void barrier() = 0;

  // Gradients' all-reduces that cross a network carry 16-bit values (BF16, F16) or fp32 (F32, the
  // default); within a machine they move through memory in fp32 either way.
  virtual void set_gradient_wire(Precision /*wire*/) {}
  // Bytes of gradients this rank has put on the network so far (0 within one machine).
  virtual size_t gradient_wire_bytes() const { return 0; }
  // data[n] ← the average over ranks of the gradients data[n] (a bucket, unsharded).
  virtual void all_reduce_gradients(float* data, size_t n) = 0;

  // Sharded optimizer (ZeRO stage 1) for ranks that can share memory with the others of their
  // machine, every machine holding as many ranks. Collective: returns false when the group
  // cannot; otherwise `shared` receives this rank's gradient buffer and the parameter and
  // optimizer-moment buffers shared by the ranks of this machine, n floats each, filled from
  // `initial` (equal on every rank).
  virtual bool share_training_state(size_t /*n*/, const TrainingState& /*initial*/, TrainingState* /*shared*/) { return false; }
  // Collective over every rank, once per gradient bucket [begin, end), in the same order on
  // every rank; may run on a thread of its own while the caller computes. Averages over all
  // ranks this rank's shard of the bucket, in place in its gradient buffer; returns the shard
  // and Σ g² over it. Ranks of different machines with the same local rank own the same shard.
  virtual double reduce_gradient_shard(Range bucket, Range* shard) = 0;
  // values[i] ← Σ over the ranks of one machine of each one's values[i], for n ≤ 2 values in
  // one exchange: with the sum of squares of each rank's shards, the squared norm of the whole
  // averaged gradient (and, when the machine holds every rank, the loss beside it).
  virtual void sum_over_shards(double* values, size_t n) = 0;
  // After each rank has updated its shards of the parameters: every rank sees all of them.
  virtual void publish_parameter_shards() = 0;
  // Collective, after share_training_state: an exchange of sufficient factors (one slot per
  // shape, batches up to max_batch per rank) among ranks that all share one machine; null
  // when they do not.
  virtual std::unique_ptr<FactorExchange> share_factor_exchange(const std::vector<FactorShape>& /*slots*/, size_t /*max_batch*/) {
    return nullptr;
  }

 protected:
  int rank_, size_;
};

}  // namespace rm
