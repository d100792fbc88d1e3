#include "nccl_group.h"

#include <cstring>
#include <mutex>
#include <thread>

#include "cuda_check.h"
#include "libraries.h"

namespace rm {

namespace {

using clock = std::chrono::steady_clock;
constexpr std::chrono::microseconds kPoll{50};

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::F32: return ncclFloat32;
    case DType::F64: return ncclFloat64;
    case DType::BF16: return ncclBfloat16;
    case DType::F16: return ncclFloat16;
    case DType::I32: return ncclInt32;
  }
  return ncclFloat32;
}

ncclRedOp_t nccl_op(ReduceOp op) { return op == ReduceOp::Avg ? ncclAvg : ncclSum; }

void check_nccl(ncclResult_t r, const std::string& what) {
  if (r == ncclSuccess || r == ncclInProgress) return;
  throw NativeError("NCCL_ERROR", what + ": " + nccl().error_string(r));
}

bool on_device(const void* p) {
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}

// One operation: its completion event, the host buffers to copy back, and the group to abort
// when it never completes.
class NcclWork final : public Work {
 public:
  NcclWork(std::shared_ptr<NcclGroup> group, std::string name, cudaEvent_t done, std::vector<Staging> staged)
      : group_(std::move(group)), name_(std::move(name)), done_(done), staged_(std::move(staged)) {}
  ~NcclWork() override { cudaEventDestroy(done_); }
  void wait(std::chrono::milliseconds timeout) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_) return;
    auto limit = std::min(timeout, group_->timeout());
    auto deadline = clock::now() + limit;
    for (;;) {
      cudaError_t q = cudaEventQuery(done_);
      if (q == cudaSuccess) break;
      if (q != cudaErrorNotReady) throw_cuda_error(q, name_);
      std::string failed = group_->failure();
      if (!failed.empty()) throw NativeError("NCCL_ERROR", name_ + " failed: " + failed);
      if (clock::now() > deadline) {
        group_->abort(name_ + " timed out");
        throw NativeError("COLLECTIVE_TIMEOUT", name_ + " did not finish within " + std::to_string(limit.count()) +
                                                     " ms (a rank did not take part); the NCCL communicator was aborted");
      }
      std::this_thread::sleep_for(kPoll);
    }
    for (auto& s : staged_)
      if (s.copy_back) RM_CUDA_CHECK(cudaMemcpy(s.host, s.device, s.bytes, cudaMemcpyDeviceToHost), "copying back " + name_);
    finished_ = true;
  }

 private:
  std::shared_ptr<NcclGroup> group_;
  std::string name_;
  cudaEvent_t done_;
  std::vector<Staging> staged_;
  std::mutex mutex_;
  bool finished_ = false;
};

}  // namespace

// On the group's stream, in its order (CudaDevice::release_on).
Staging::Staging(void* h, size_t b, bool in, bool out, CudaDevice& gpu, cudaStream_t s)
    : host(h), bytes(b), copy_in(in), copy_back(out), on(&gpu), stream(s) {
  device = on->allocate_on(stream, bytes);
}

Staging::Staging(Staging&& o) noexcept
    : host(o.host), device(o.device), bytes(o.bytes), copy_in(o.copy_in), copy_back(o.copy_back), on(o.on), stream(o.stream) {
  o.device = nullptr;
}

Staging::~Staging() {
  if (device) on->release_on(stream, device);
}

void* NcclGroup::device_side(const void* p, size_t bytes, bool in, bool out, std::vector<Staging>& staged) {
  if (p == nullptr || bytes == 0 || on_device(p)) return const_cast<void*>(p);
  staged.emplace_back(const_cast<void*>(p), bytes, in, out, device_, stream_);
  return staged.back().device;
}

std::shared_ptr<NcclGroup> NcclGroup::join(const NcclGroupConfig& c, KeyValueStore& store, CudaDevice& device) {
  const Nccl& api = nccl();
  device.make_current();
  ncclUniqueId id{};
  const std::string key = "nccl/unique-id";
  if (c.rank == 0) {
    check_nccl(api.get_unique_id(&id), "making the NCCL communicator's id");
    store.set(key, std::vector<char>(id.internal, id.internal + sizeof id.internal));
  } else {
    std::vector<char> bytes = store.get(key, c.join_timeout);
    RM_CHECK(bytes.size() == sizeof id.internal, "NCCL_ERROR", "the NCCL id in the rendezvous store has " + std::to_string(bytes.size()) + " bytes");
    std::memcpy(id.internal, bytes.data(), bytes.size());
  }
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;  // so a rank that never joins cannot hang us past the join timeout
  ncclComm_t comm = nullptr;
  check_nccl(api.init_rank(&comm, c.size, id, c.rank, &config), "initialising NCCL on rank " + std::to_string(c.rank));
  std::shared_ptr<NcclGroup> g(new NcclGroup(c.rank, c.size, comm, device, c.timeout));
  g->await_ready("joining the NCCL group (rank " + std::to_string(c.rank) + " of " + std::to_string(c.size) + ")", c.join_timeout);
  return g;
}

NcclGroup::NcclGroup(int rank, int size, ncclComm_t comm, CudaDevice& device, std::chrono::milliseconds timeout)
    : ProcessGroup(rank, size), comm_(comm), device_(device), timeout_(timeout) {
  device_.make_current();
  RM_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating the NCCL group's stream");
  // Each rank holds its own GPU; NCCL finds which of them share a machine (NVLink, PCIe) itself.
  topology_.machines = size;
  topology_.machine = rank;
  topology_.machine_of.resize(size_t(size));
  for (int r = 0; r < size; ++r) topology_.machine_of[size_t(r)] = r;
}

NcclGroup::~NcclGroup() {
  if (comm_ && !aborted_) {
    // A nonblocking communicator finishes its work before it is destroyed; one that does not
    // within the timeout is aborted instead.
    const Nccl& api = nccl();
    api.finalize(comm_);
    auto deadline = clock::now() + timeout_;
    ncclResult_t state = ncclInProgress;
    while (api.async_error(comm_, &state) == ncclSuccess && state == ncclInProgress && clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (state == ncclSuccess) api.destroy(comm_);
    else api.abort(comm_);
  }
  if (stream_) cudaStreamDestroy(stream_);
}

void NcclGroup::await_ready(const std::string& what, std::chrono::milliseconds limit) {
  auto deadline = clock::now() + limit;
  for (;;) {
    ncclResult_t state = ncclSuccess;
    check_nccl(nccl().async_error(comm_, &state), what);
    if (state == ncclSuccess) return;
    if (state != ncclInProgress) check_nccl(state, what);
    if (clock::now() > deadline) {
      abort(what + " timed out");
      throw NativeError("COLLECTIVE_TIMEOUT", what + ": not every rank joined within " + std::to_string(limit.count()) + " ms");
    }
    std::this_thread::sleep_for(kPoll);  // an operation of a step that is still being queued: not a millisecond each
  }
}

void NcclGroup::abort(const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(abort_mutex_);
    if (aborted_) return;
    abort_reason_ = why;
    aborted_ = true;
  }
  nccl().abort(comm_);
}

std::string NcclGroup::failure() {
  if (aborted_) {
    std::lock_guard<std::mutex> lock(abort_mutex_);
    return "the communicator was aborted: " + abort_reason_;
  }
  ncclResult_t state = ncclSuccess;
  if (nccl().async_error(comm_, &state) != ncclSuccess) return "its state could not be read";
  return state == ncclSuccess || state == ncclInProgress ? "" : nccl().error_string(state);
}

std::string NcclGroup::describe(const char* op, uint64_t seq, size_t n, DType t) const {
  return std::string(op) + " #" + std::to_string(seq) + " (" + std::to_string(n) + " " + dtype_name(t) + ") on rank " + std::to_string(rank_) +
         " of " + std::to_string(size_) + " (NCCL)";
}

template <class F>
WorkPtr NcclGroup::enqueue(const char* op, size_t n, DType t, std::vector<Staging> staged, F&& launch) {
  std::string name = describe(op, seq_++, n, t);
  RM_CHECK(!aborted_, "NCCL_ERROR", name + ": " + failure());
  cudaEvent_t ready = nullptr, done = nullptr;
  RM_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming), name);
  RM_CUDA_CHECK(cudaEventRecord(ready, device_.stream()), name);  // after the kernels that wrote the buffers
  RM_CUDA_CHECK(cudaStreamWaitEvent(stream_, ready, 0), name);
  cudaEventDestroy(ready);
  for (auto& s : staged)
    if (s.copy_in) RM_CUDA_CHECK(cudaMemcpyAsync(s.device, s.host, s.bytes, cudaMemcpyHostToDevice, stream_), "staging " + name);
  check_nccl(launch(stream_), name);
  await_ready(name, timeout_);  // nonblocking: the call may still be queueing the operation
  RM_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), name);
  // The device's stream does not wait for it (backward goes on beside a gradient bucket's
  // reduction); whoever reads the result waits for the Work first, on the host.
  RM_CUDA_CHECK(cudaEventRecord(done, stream_), name);
  return std::make_shared<NcclWork>(shared_from_this(), std::move(name), done, std::move(staged));
}

WorkPtr NcclGroup::all_reduce(void* data, size_t n, DType t, ReduceOp op) {
  device_.make_current();
  std::vector<Staging> staged;
  void* d = device_side(data, n * dtype_size(t), true, true, staged);
  return enqueue("all_reduce", n, t, std::move(staged),
                 [&](cudaStream_t s) { return nccl().all_reduce(d, d, n, nccl_type(t), nccl_op(op), comm_, s); });
}

WorkPtr NcclGroup::broadcast(void* data, size_t n, DType t, int root) {
  device_.make_current();
  std::vector<Staging> staged;
  void* d = device_side(data, n * dtype_size(t), true, true, staged);
  return enqueue("broadcast", n, t, std::move(staged), [&](cudaStream_t s) { return nccl().broadcast(d, d, n, nccl_type(t), root, comm_, s); });
}

WorkPtr NcclGroup::all_gather(void* out, const void* in, size_t n, DType t) {
  device_.make_current();
  std::vector<Staging> staged;
  void* din = device_side(in, n * dtype_size(t), true, false, staged);
  void* dout = device_side(out, size_t(size_) * n * dtype_size(t), false, true, staged);
  return enqueue("all_gather", n, t, std::move(staged), [&](cudaStream_t s) { return nccl().all_gather(din, dout, n, nccl_type(t), comm_, s); });
}

WorkPtr NcclGroup::reduce_scatter(void* out, const void* in, size_t n, DType t, ReduceOp op) {
  device_.make_current();
  std::vector<Staging> staged;
  void* din = device_side(in, size_t(size_) * n * dtype_size(t), true, false, staged);
  void* dout = device_side(out, n * dtype_size(t), false, true, staged);
  return enqueue("reduce_scatter", n, t, std::move(staged),
                 [&](cudaStream_t s) { return nccl().reduce_scatter(din, dout, n, nccl_type(t), nccl_op(op), comm_, s); });
}

WorkPtr NcclGroup::send(const void* data, size_t n, DType t, int dst, uint32_t) {
  device_.make_current();
  std::vector<Staging> staged;
  void* d = device_side(data, n * dtype_size(t), true, false, staged);
  return enqueue("send", n, t, std::move(staged), [&](cudaStream_t s) { return nccl().send(d, n, nccl_type(t), dst, comm_, s); });
}

WorkPtr NcclGroup::recv(void* data, size_t n, DType t, int src, uint32_t) {
  device_.make_current();
  std::vector<Staging> staged;
  void* d = device_side(data, n * dtype_size(t), false, true, staged);
  return enqueue("recv", n, t, std::move(staged), [&](cudaStream_t s) { return nccl().recv(d, n, nccl_type(t), src, comm_, s); });
}

WorkPtr NcclGroup::barrier() {
  device_.make_current();
  float one = 1.0f;  // copied in when the barrier is queued (a pageable copy takes it at once), never read back
  std::vector<Staging> staged;
  void* d = device_side(&one, sizeof(float), true, false, staged);
  return enqueue("barrier", 1, DType::F32, std::move(staged), [&](cudaStream_t s) { return nccl().all_reduce(d, d, 1, ncclFloat32, ncclSum, comm_, s); });
}

std::shared_ptr<ProcessGroup> NcclGroup::new_group(const std::vector<int>& ranks) {
  int color = NCCL_SPLIT_NOCOLOR, key = 0;
  for (size_t i = 0; i < ranks.size(); ++i)
    if (ranks[i] == rank_) color = 0, key = int(i);
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclComm_t sub = nullptr;
  std::string what = "splitting an NCCL subgroup of " + std::to_string(ranks.size()) + " ranks";
  check_nccl(nccl().split(comm_, color, key, &sub, &config), what);
  await_ready(what, timeout_);  // the parent communicator finishes the split
  if (color == NCCL_SPLIT_NOCOLOR || sub == nullptr) return nullptr;
  std::shared_ptr<NcclGroup> g(new NcclGroup(key, int(ranks.size()), sub, device_, timeout_));
  g->await_ready(what, timeout_);
  return g;
}

}  // namespace rm
