// The collectives a rank needs, as one small interface in the shape of c10d's: Gloo over TCP now,
// NCCL next. Every operation returns at once with a Work handle; operations of one group run in
// the order they were issued, and every rank of the group issues the same collectives in the same
// order. A failure names the operation, its sequence number in this group, and this rank; a peer
// that never takes part fails the operation after the group's timeout.
//
// Buffers hold `n` elements of `dtype` and must stay valid until the operation's wait returns.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../core/dtype.h"

namespace rm {

enum class ReduceOp { Sum, Avg };  // Avg: floating types only

// Where the ranks of a group run: which of them share a machine (and so memory).
struct Topology {
  int machines = 1;     // distinct machines in the group
  int machine = 0;      // this rank's machine
  int local_rank = 0;   // this rank among its machine's ranks, in rank order
  int local_size = 1;   // ranks on this machine
  bool uniform = true;  // every machine holds local_size ranks
  // Every rank's machine, by group rank; machines are numbered in order of their lowest rank.
  std::vector<int> machine_of;
  // The ranks of machine m, ascending.
  std::vector<int> ranks_of(int m) const;
};

// One operation in flight.
class Work {
 public:
  virtual ~Work() = default;
  // Returns once the operation is done, or rethrows how it failed; COLLECTIVE_TIMEOUT, naming
  // the operation, when it is still running after `timeout`.
  virtual void wait(std::chrono::milliseconds timeout) = 0;
};
using WorkPtr = std::shared_ptr<Work>;

class ProcessGroup {
 public:
  ProcessGroup(int rank, int size) : rank_(rank), size_(size) {}
  virtual ~ProcessGroup() = default;
  int rank() const { return rank_; }
  int size() const { return size_; }
  virtual const Topology& topology() const = 0;
  // Where the buffers it moves are best kept: "cpu" (Gloo), or the GPU an NCCL group runs on
  // (which can read nothing of another GPU's).
  virtual std::string device_name() const = 0;
  // How long any operation may wait for the other ranks before it fails.
  virtual std::chrono::milliseconds timeout() const = 0;

  // data[n] ← op over ranks of data[n]. 16-bit floats (BF16, F16) are summed in fp32 at every
  // step and rounded back, as a compressed gradient travels.
  virtual WorkPtr all_reduce(void* data, size_t n, DType t, ReduceOp op) = 0;
  // data[n] ← root's data[n]
  virtual WorkPtr broadcast(void* data, size_t n, DType t, int root) = 0;
  // out[size·n] ← the concatenation of every rank's in[n], in rank order
  virtual WorkPtr all_gather(void* out, const void* in, size_t n, DType t) = 0;
  // out[n] ← op over ranks of in[rank·n, (rank+1)·n), in holding size·n elements
  virtual WorkPtr reduce_scatter(void* out, const void* in, size_t n, DType t, ReduceOp op) = 0;
  // Point to point, posted at once, progressing while the caller computes, never waiting behind
  // the collectives. Gloo matches a send to the peer's receive with the same tag, NCCL to the
  // peer's next receive (it has no tags): callers that run on both post a pair of ranks'
  // transfers in the order the sender sends them, and give each its place in that order as tag.
  virtual WorkPtr send(const void* data, size_t n, DType t, int dst, uint32_t tag) = 0;
  virtual WorkPtr recv(void* data, size_t n, DType t, int src, uint32_t tag) = 0;
  virtual WorkPtr barrier() = 0;

  // Collective over this group, blocking: a group of the given ranks of this one (ascending),
  // numbered 0… in that order, with this group's timeout. Every rank calls it, for every
  // subgroup, in the same order; a rank that is not listed gets null.
  virtual std::shared_ptr<ProcessGroup> new_group(const std::vector<int>& ranks) = 0;

  // Blocking forms: issue, then wait for as long as the operation may take.
  void all_reduce_now(void* data, size_t n, DType t, ReduceOp op) { all_reduce(data, n, t, op)->wait(wait_bound()); }
  void broadcast_now(void* data, size_t n, DType t, int root) { broadcast(data, n, t, root)->wait(wait_bound()); }
  void barrier_now() { barrier()->wait(wait_bound()); }
  // The longest a wait on one operation of this group needs: the group's own timeout fires
  // first when a peer is missing; this bound only catches a group that stopped running.
  std::chrono::milliseconds wait_bound() const { return 2 * timeout() + std::chrono::seconds(1); }

 protected:
  int rank_, size_;
};

// The operations every implementation overrides, declared once for all of them.
#define RM_PROCESS_GROUP_OVERRIDES \
  WorkPtr all_reduce(void* data, size_t n, DType t, ReduceOp op) override; \
  WorkPtr broadcast(void* data, size_t n, DType t, int root) override; \
  WorkPtr all_gather(void* out, const void* in, size_t n, DType t) override; \
  WorkPtr reduce_scatter(void* out, const void* in, size_t n, DType t, ReduceOp op) override; \
  WorkPtr send(const void* data, size_t n, DType t, int dst, uint32_t tag) override; \
  WorkPtr recv(void* data, size_t n, DType t, int src, uint32_t tag) override; \
  WorkPtr barrier() override; \
  std::shared_ptr<ProcessGroup> new_group(const std::vector<int>& ranks) override;

}  // namespace rm
