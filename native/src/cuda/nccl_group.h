// ProcessGroup over NCCL, for ranks whose buffers live on GPUs (one GPU per rank).
//
// Joining: rank 0 makes the communicator's unique id and publishes it in the rendezvous store;
// every rank initialises its communicator without blocking and polls it until it is ready,
// aborting it after the join timeout. Subgroups split the parent's communicator (no store).
//
// Every operation runs on the group's own stream, after an event recorded on the device's stream
// (so it sees what the kernels queued before it wrote), and records a completion event its Work
// waits on; the device's stream does not wait for it, so backward runs on beside a gradient
// bucket's reduction, and whoever reads a result waits for its Work first. NCCL has no timeout of its own: a wait that outlasts the group's timeout aborts
// the communicator (every operation on it fails from then on) and fails with
// COLLECTIVE_TIMEOUT naming the operation. Buffers in host memory (the trainer's scalars) are
// staged through device memory. Sends and receives match by order per peer (NCCL has no tags).
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../collectives/key_value_store.h"
#include "../collectives/process_group.h"
#include "cuda_device.h"

namespace rm {

// A host buffer an operation reads or writes through device memory: copied in on the group's
// stream before the operation (copy_in) and back after it, once its Work is waited for
// (copy_back). Owns its device memory.
struct Staging {
  void* host = nullptr;
  void* device = nullptr;
  size_t bytes = 0;
  bool copy_in = false, copy_back = false;
  CudaDevice* on = nullptr;
  cudaStream_t stream = nullptr;  // the group's: allocated and freed in its order
  Staging() = default;
  Staging(void* h, size_t b, bool in, bool out, CudaDevice& gpu, cudaStream_t s);
  Staging(Staging&& o) noexcept;
  Staging& operator=(Staging&&) = delete;
  Staging(const Staging&) = delete;
  ~Staging();
};

struct NcclGroupConfig {
  int rank = 0, size = 1;
  std::chrono::milliseconds timeout{30000};       // every operation
  std::chrono::milliseconds join_timeout{30000};  // every rank joining
};

class NcclGroup : public ProcessGroup, public std::enable_shared_from_this<NcclGroup> {
 public:
  // Collective over the job's ranks: joins through `store` on `device`.
  static std::shared_ptr<NcclGroup> join(const NcclGroupConfig& config, KeyValueStore& store, CudaDevice& device);
  ~NcclGroup() override;

  std::chrono::milliseconds timeout() const override { return timeout_; }
  const Topology& topology() const override { return topology_; }
  std::string device_name() const override { return device_.name(); }
  RM_PROCESS_GROUP_OVERRIDES

  // Aborts the communicator: every operation in flight or to come fails. (A timed-out wait does.)
  void abort(const std::string& why);
  // Why the communicator failed (an async error, or the abort), or empty while it is healthy.
  std::string failure();

 private:
  NcclGroup(int rank, int size, ncclComm_t comm, CudaDevice& device, std::chrono::milliseconds timeout);
  // Waits, polling, until the communicator is no longer busy (initialising, splitting, or
  // queueing an operation: it is nonblocking); aborts it after `limit`.
  void await_ready(const std::string& what, std::chrono::milliseconds limit);
  // "all_reduce #3 (16 float32) on rank 0 of 2"
  std::string describe(const char* op, uint64_t seq, size_t n, DType t) const;
  // Runs `launch(stream)` after the device's queued work, on the group's stream; the Work waits for it.
  template <class F>
  WorkPtr enqueue(const char* op, size_t n, DType t, std::vector<Staging> staged, F&& launch);
  // `p` itself when it is device memory, else device memory the operation uses in its place
  // (added to `staged`): `in`, it reads the buffer; `out`, it writes it.
  void* device_side(const void* p, size_t bytes, bool in, bool out, std::vector<Staging>& staged);

  ncclComm_t comm_;
  CudaDevice& device_;
  cudaStream_t stream_ = nullptr;
  std::chrono::milliseconds timeout_;
  Topology topology_;
  std::atomic<uint64_t> seq_{0};
  std::atomic<bool> aborted_{false};
  std::mutex abort_mutex_;
  std::string abort_reason_;  // under abort_mutex_
};

}  // namespace rm
