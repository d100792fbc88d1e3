// ProcessGroup over Gloo's TCP transport. Ranks find each other through a rendezvous store
// (served by the coordinator, see store_bridge.h); after that they talk to each other directly.
// When all ranks share one machine, floating-point all-reduce goes through shared memory instead.
// When every machine holds as many ranks, training gradients are reduced hierarchically: within
// the machine through shared memory, across machines by Gloo among the ranks of one local rank.
#pragma once

#include <gloo/rendezvous/store.h>

#include <atomic>
#include <memory>

#include "process_group.h"
#include "shm_allreduce.h"
#include "topology.h"

namespace gloo {
class Context;
namespace transport {
class Device;
}
}  // namespace gloo

namespace rm {

struct GlooGroupConfig {
  int rank = 0, size = 1;
  std::string hostname;  // the address peers reach this rank at
  std::string machine;   // ranks with the same value share memory; empty: this machine's identity
  std::chrono::milliseconds timeout{30000};       // every operation
  std::chrono::milliseconds join_timeout{30000};  // connecting to every peer: ranks start at different times
};

class GlooGroup : public ProcessGroup {
 public:
  // Connects to every other rank (full mesh); blocks until all have joined or the timeout.
  GlooGroup(const GlooGroupConfig& config, gloo::rendezvous::Store& store);
  ~GlooGroup() override;

  std::chrono::milliseconds timeout() const override { return timeout_; }
  Topology topology() const override { return topology_; }
  void all_reduce(void* data, size_t n, DType t, ReduceOp op) override;
  void broadcast(void* data, size_t n, DType t, int root) override;
  void all_gather(void* out, const void* in, size_t n, DType t) override;
  void reduce_scatter(void* out, const void* in, size_t n, DType t, ReduceOp op) override;
  void send(const void* data, size_t n, DType t, int dst, uint32_t tag) override;
  void recv(void* data, size_t n, DType t, int src, uint32_t tag) override;
  void barrier() override;
  void set_gradient_wire(Precision wire) override { wire_ = wire; }
  size_t gradient_wire_bytes() const override { return wire_bytes_; }
  void all_reduce_gradients(float* data, size_t n) override;
  bool share_training_state(size_t n, const TrainingState& initial, TrainingState* shared) override;
  double reduce_gradient_shard(Range bucket, Range* shard) override;
  void sum_over_shards(double* values, size_t n) override;
  void publish_parameter_shards() override;
  std::unique_ptr<FactorExchange> share_factor_exchange(const std::vector<FactorShape>& slots, size_t max_batch) override;

  // Seconds per float32 all-reduce of n elements, best of `iterations`, for bench/: Gloo's TCP
  // ring called directly on this group's connections (the baseline), this group's all_reduce
  // over Gloo's TCP ring (the path across machines), through shared memory with copies in and
  // out, or in place in a shared buffer (what data-parallel training uses on one machine).
  enum class Path { GlooDirect, Tcp, SharedCopy, SharedInPlace };
  double time_all_reduce(size_t n, int iterations, Path path);

 private:
  // Runs one numbered operation, turning Gloo's exceptions into a NativeError that names it.
  template <class F>
  void run(const char* op, size_t n, DType t, F&& body);

  // Finds the ranks of this machine; when every machine holds as many, names the shared
  // memory of this one and connects this rank to its peers of the same local rank elsewhere.
  void join_machine(gloo::rendezvous::Store& store, const std::string& identity, std::chrono::milliseconds timeout);
  // Collective: maps the training buffers of this machine's ranks.
  void map_shared_buffers(size_t n, int moments, bool compute_copy);
  // Collective over the machine's ranks: local rank 0 creates Segment(name, args..., create,
  // timeout) under this machine's prefix + suffix, the others open it, then its name goes.
  template <class Segment, class... Args>
  std::unique_ptr<Segment> map_on_machine(const std::string& suffix, Args&&... args);

  std::shared_ptr<gloo::transport::Device> device_;
  std::shared_ptr<gloo::Context> context_;
  Topology topology_;
  std::string shm_name_;                   // this machine's segments start with it
  std::shared_ptr<gloo::Context> across_;  // ranks of this local rank, one per machine
  Precision wire_ = Precision::F32;        // gradients on the network
  std::atomic<size_t> wire_bytes_{0};       // added to on the reducer's thread, read from JS
  // data[n] ← Σ over the context's ranks of scale · data, in wire_'s type on the network;
  // returns the factor still to apply (see SharedBuffers::AcrossMachines).
  float sum_gradients(const std::shared_ptr<gloo::Context>& context, float* data, size_t n, float scale, uint32_t tag);
  std::unique_ptr<ShmAllReduce> shm_;
  std::unique_ptr<SharedBuffers> shared_;
  std::chrono::milliseconds timeout_;
  uint64_t seq_ = 0;
};

}  // namespace rm
