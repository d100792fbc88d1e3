// ZeRO stage 1 for data-parallel ranks that share memory with the others of their machine, every
// machine holding as many ranks. The gradients of the machine's ranks, and one copy of the
// parameters and optimizer moments, live in one shared segment (collectives/shm_allreduce.h's
// SharedBuffers). Each rank averages only its shard of every bucket, within the machine through
// memory and across machines with the ranks of its local rank (a subgroup of its own), updates
// that shard of the shared parameters, and a barrier publishes them to the machine.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "../collectives/factor_exchange.h"
#include "../collectives/process_group.h"
#include "../collectives/shm_allreduce.h"
#include "gradient_wire.h"

namespace rm {

// One rank's training buffers (n floats each): gradients, parameters, optimizer moments.
struct TrainingState {
  float* grads = nullptr;
  float* params = nullptr;
  float* moments[2] = {nullptr, nullptr};
  int moment_count = 0;
  float* compute_params = nullptr;  // mixed precision: the rounded copy the layers read; else null
};

class MachineShards {
 public:
  // Whether the ranks of `world` can shard so: two or more, every machine with as many.
  static bool possible(const ProcessGroup& world);
  // Collective over `world`: makes the machine's and the across-machine subgroups, maps the
  // machine's shared buffers for n floats and fills them from `initial` (equal on every rank).
  MachineShards(ProcessGroup& world, size_t n, const TrainingState& initial, Precision wire);

  // The shared buffers, shaped as `initial` was.
  const TrainingState& state() const { return state_; }
  // Collective over every rank, once per gradient bucket [begin, end), in the same order on
  // every rank; may run on a thread of its own while the caller computes. Averages over all
  // ranks this rank's shard of the bucket, in place in its gradient buffer; returns the shard
  // and Σ g² over it. Ranks of different machines with the same local rank own the same shard.
  double reduce_gradient_shard(Range bucket, Range* shard);
  // values[i] ← Σ over the ranks of this machine of each one's values[i], n ≤ 2.
  void sum_over_machine(double* values, size_t n);
  // After each rank has updated its shards of the parameters: every rank sees all of them.
  void publish_parameter_shards();
  // Collective: an exchange of sufficient factors (one slot per shape, batches up to max_batch
  // per rank) when every rank shares this machine; null otherwise (the same on every rank).
  std::unique_ptr<FactorExchange> share_factor_exchange(const std::vector<FactorShape>& slots, size_t max_batch);
  // Gradient bytes this rank has sent between machines.
  size_t wire_bytes() const { return wire_.bytes(); }

 private:
  // Runs one numbered operation; a timeout names it, its sequence number and this rank.
  template <class F>
  void named(const char* op, size_t n, F&& body);

  int rank_, size_;  // in the data-parallel group
  Topology topology_;
  std::shared_ptr<ProcessGroup> machine_;  // the ranks of this machine
  std::shared_ptr<ProcessGroup> across_;   // the ranks of this local rank, one per machine; null on one machine
  std::unique_ptr<SharedBuffers> shared_;
  TrainingState state_;
  GradientWire wire_;
  std::atomic<uint64_t> seq_{0};
};

}  // namespace rm
