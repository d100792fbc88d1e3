#include "machine_shards.h"

#include <cstring>

#include "../collectives/machine_segment.h"
#include "../collectives/operations.h"
#include "../collectives/shm_factors.h"

namespace rm {

bool MachineShards::possible(const ProcessGroup& world) { return world.size() >= 2 && world.topology().uniform; }

MachineShards::MachineShards(ProcessGroup& world, size_t n, const TrainingState& initial, Precision wire)
    : rank_(world.rank()), size_(world.size()), topology_(world.topology()), wire_(wire) {
  RM_CHECK(possible(world), "INTERNAL", "sharding over shared memory needs as many ranks on every machine");
  // Every rank makes every subgroup, in the same order.
  for (int m = 0; m < topology_.machines; ++m) {
    auto group = world.new_group(topology_.ranks_of(m));
    if (group) machine_ = std::move(group);
  }
  if (topology_.machines > 1) {
    for (int local = 0; local < topology_.local_size; ++local) {
      std::vector<int> ranks;
      for (int m = 0; m < topology_.machines; ++m) ranks.push_back(topology_.ranks_of(m)[size_t(local)]);
      auto group = world.new_group(ranks);
      if (group) across_ = std::move(group);
    }
  }
  bool compute_copy = initial.compute_params != nullptr;
  shared_ = map_on_machine<SharedBuffers>(*machine_, "training", topology_.local_rank, topology_.local_size, n,
                                          initial.moment_count, compute_copy);
  if (topology_.local_rank == 0) {
    std::memcpy(shared_->params(), initial.params, n * sizeof(float));
    for (int i = 0; i < initial.moment_count; ++i) std::memcpy(shared_->moment(i), initial.moments[i], n * sizeof(float));
    if (compute_copy) std::memcpy(shared_->compute_params(), initial.compute_params, n * sizeof(float));
  }
  publish_parameter_shards();
  state_.grads = shared_->mine();
  state_.params = shared_->params();
  state_.moment_count = initial.moment_count;
  for (int i = 0; i < initial.moment_count; ++i) state_.moments[i] = shared_->moment(i);
  state_.compute_params = compute_copy ? shared_->compute_params() : nullptr;
}

template <class F>
void MachineShards::named(const char* op, size_t n, F&& body) {
  uint64_t seq = ++seq_;
  OperationScope in_flight(std::string(op) + " #" + std::to_string(seq) + " (" + std::to_string(n) + " float32) on rank " +
                           std::to_string(rank_) + " of " + std::to_string(size_));
  try {
    body();
  } catch (const NativeError& e) {
    if (e.code() != "COLLECTIVE_TIMEOUT" && e.code() != "COLLECTIVE_FAILED") throw;
    throw e.within(std::string(op) + " #" + std::to_string(seq) + " (" + std::to_string(n) + " float32) on rank " + std::to_string(rank_) +
                   " of " + std::to_string(size_) + ": ");
  }
}

double MachineShards::reduce_gradient_shard(Range bucket, Range* shard) {
  double squares = 0;
  named("reduce_gradient_shard", bucket.end - bucket.begin, [&] {
    SharedBuffers::AcrossMachines across;
    if (across_) across = [this](float* data, size_t n, float scale) { return wire_.sum(*across_, data, n, scale); };
    squares = shared_->reduce_shard(bucket, shard, across, size_);
  });
  return squares;
}

void MachineShards::sum_over_machine(double* values, size_t n) {
  named("sum_over_machine", n, [&] { shared_->sum_over_ranks(values, n); });
}

void MachineShards::publish_parameter_shards() {
  named("publish_parameter_shards", shared_->count(), [&] { shared_->barrier(); });
}

std::unique_ptr<FactorExchange> MachineShards::share_factor_exchange(const std::vector<FactorShape>& slots, size_t max_batch) {
  if (topology_.machines != 1 || slots.empty()) return nullptr;
  return map_on_machine<ShmFactorExchange>(*machine_, "factors", slots, max_batch, rank_, size_);
}

}  // namespace rm
