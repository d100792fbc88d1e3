// One interface for the collectives a rank needs: Gloo over TCP now, NCCL later. Every call
// blocks the calling (non-JS) thread until done or until the group's timeout, and a failure
// names the operation, its sequence number in this group, and this rank.
//
// Buffers hold `n` elements of `dtype`; all ranks call the same operations in the same order.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace rm {

enum class DType { F32, F64, I32 };
enum class ReduceOp { Sum, Avg };  // Avg: floating types only

size_t dtype_size(DType t);
const char* dtype_name(DType t);

class ProcessGroup {
 public:
  ProcessGroup(int rank, int size) : rank_(rank), size_(size) {}
  virtual ~ProcessGroup() = default;
  int rank() const { return rank_; }
  int size() const { return size_; }

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

  // Collective. A buffer of n floats whose all_reduce needs no copies (every rank's lives in
  // memory all of them can read), or null when this group cannot offer one. all_reduce of exactly
  // this buffer then takes the fast path.
  virtual float* shared_buffer(size_t /*n*/) { return nullptr; }

  // Sharded optimizer (ZeRO stage 1) over shared memory, for ranks of one machine. Collective:
  // returns false when the group cannot; otherwise this rank's gradient buffer and one parameter
  // buffer shared by all ranks, n floats each (the caller fills the parameters on rank 0).
  virtual bool share_training_buffers(size_t /*n*/, float** /*grads*/, float** /*params*/) { return false; }
  // Averages this rank's shard [begin, end) of the gradients; returns Σ g² of the whole average.
  virtual double reduce_gradient_shard(size_t* begin, size_t* end) = 0;
  // After each rank has written its shard of the parameters.
  virtual void publish_parameter_shards() = 0;

 protected:
  int rank_, size_;
};

}  // namespace rm
