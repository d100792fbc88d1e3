// ProcessGroup over Gloo's TCP transport. Ranks find each other through a rendezvous store
// (served by the coordinator, see store_bridge.h); after that they talk to each other directly,
// and subgroups connect over the parent's connections, without the store. When every rank of a
// group shares one machine, its floating-point all-reduce goes through shared memory instead.
#pragma once

#include <gloo/rendezvous/store.h>

#include <atomic>
#include <memory>

#include "process_group.h"
#include "shm_allreduce.h"
#include "work_queue.h"

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
  const Topology& topology() const override { return topology_; }
  std::string device_name() const override { return "cpu"; }
  RM_PROCESS_GROUP_OVERRIDES

  // Seconds per float32 all-reduce of n elements, best of `iterations`, for bench/: Gloo's TCP
  // ring called directly on this group's connections (the baseline), this group's all_reduce
  // over Gloo's TCP ring (the path across machines), through shared memory with copies in and
  // out, or in place in a buffer the ranks share (what data-parallel training does on one machine).
  enum class Path { GlooDirect, Tcp, SharedCopy, SharedInPlace };
  double time_all_reduce(size_t n, int iterations, Path path);

 private:
  // A subgroup: `context` already connected.
  GlooGroup(std::shared_ptr<gloo::transport::Device> device, std::shared_ptr<gloo::Context> context,
            std::vector<std::string> identities, std::chrono::milliseconds timeout);
  // Once connected: starts the queue and, when every rank shares this machine, its shared memory.
  void start();
  // "all_reduce #3 (16 float32) on rank 0 of 2"
  std::string describe(const char* op, uint64_t seq, size_t n, DType t) const;
  // Queues a numbered collective; body(tag) runs on the queue's thread.
  template <class F>
  WorkPtr collective(const char* op, size_t n, DType t, F&& body);
  // Runs body, turning Gloo's exceptions into a NativeError that names the operation.
  template <class F>
  void run(const std::string& name, std::chrono::milliseconds timeout, F&& body);
  std::shared_ptr<gloo::Context> connect_subgroup(const std::vector<int>& ranks, int sub_rank, uint32_t id);

  std::shared_ptr<gloo::transport::Device> device_;
  std::shared_ptr<gloo::Context> context_;
  std::vector<std::string> identities_;  // every rank's machine
  Topology topology_;
  std::chrono::milliseconds timeout_;
  std::atomic<uint64_t> seq_{0};        // collectives issued: names them
  std::atomic<uint64_t> p2p_seq_{0};    // sends and receives posted: names them
  std::atomic<uint32_t> subgroups_{0};  // new_group calls: keeps their connections apart
  std::unique_ptr<ShmAllReduce> shm_;   // every rank on this machine: the floating-point all-reduce
  std::unique_ptr<OperationQueue> queue_;  // last: its thread uses the members above
};

}  // namespace rm
