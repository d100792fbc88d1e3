// ProcessGroup over Gloo's TCP transport. Ranks find each other through a rendezvous store
// (served by the coordinator, see store_bridge.h); after that they talk to each other directly.
// When all ranks share one machine, floating-point all-reduce goes through shared memory instead.
#pragma once

#include <gloo/rendezvous/store.h>

#include <memory>

#include "process_group.h"
#include "shm_allreduce.h"

namespace gloo {
class Context;
}

namespace rm {

struct GlooGroupConfig {
  int rank = 0, size = 1;
  std::string hostname;  // the address peers reach this rank at
  std::chrono::milliseconds timeout{30000};
};

class GlooGroup : public ProcessGroup {
 public:
  // Connects to every other rank (full mesh); blocks until all have joined or the timeout.
  GlooGroup(const GlooGroupConfig& config, gloo::rendezvous::Store& store);
  ~GlooGroup() override;

  void all_reduce(void* data, size_t n, DType t, ReduceOp op) override;
  void broadcast(void* data, size_t n, DType t, int root) override;
  void all_gather(void* out, const void* in, size_t n, DType t) override;
  void reduce_scatter(void* out, const void* in, size_t n, DType t, ReduceOp op) override;
  void send(const void* data, size_t n, DType t, int dst, uint32_t tag) override;
  void recv(void* data, size_t n, DType t, int src, uint32_t tag) override;
  void barrier() override;
  float* shared_buffer(size_t n) override;
  bool share_training_buffers(size_t n, float** grads, float** params) override;
  double reduce_gradient_shard(size_t* begin, size_t* end) override;
  void publish_parameter_shards() override;

  // Seconds per float32 all-reduce of n elements, best of `iterations`, for bench/: through
  // Gloo's TCP ring, through shared memory with copies in and out, or in place in a shared
  // buffer (what data-parallel training uses on one machine).
  enum class Path { Tcp, SharedCopy, SharedInPlace };
  double time_all_reduce(size_t n, int iterations, Path path);

 private:
  // Runs one numbered operation, turning Gloo's exceptions into a NativeError that names it.
  template <class F>
  void run(const char* op, size_t n, DType t, F&& body);

  // When every rank runs on this machine: floating-point all-reduce through shared memory.
  void join_shared_memory(gloo::rendezvous::Store& store);

  std::shared_ptr<gloo::Context> context_;
  std::unique_ptr<ShmAllReduce> shm_;
  std::unique_ptr<SharedBuffers> shared_;
  std::chrono::milliseconds timeout_;
  uint64_t seq_ = 0;
};

}  // namespace rm
