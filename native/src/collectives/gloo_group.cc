#include "gloo_group.h"

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/error.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/transport/tcp/device.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../core/common.h"
#include "../precision/precision.h"
#include "machine_segment.h"
#include "operations.h"
#include "topology.h"

namespace rm {

namespace {

// Collective through the store: publishes `identity` as this rank's and reads every rank's.
std::vector<std::string> exchange_identities(gloo::rendezvous::Store& store, int rank, int size, const std::string& identity) {
  store.set("machine/" + std::to_string(rank), std::vector<char>(identity.begin(), identity.end()));
  std::vector<std::string> identities;
  for (int q = 0; q < size; ++q) {
    auto v = store.get("machine/" + std::to_string(q));
    identities.emplace_back(v.begin(), v.end());
  }
  return identities;
}

// Slots for point-to-point traffic, apart from the ones Gloo's collectives derive from tags.
constexpr uint8_t kSendRecvSlot = 0xfe;
constexpr uint8_t kReduceScatterSlot = 0xfd;
constexpr uint8_t kSubgroupSlot = 0xfc;

template <DType T>
struct Half {};
template <>
struct Half<DType::BF16> {
  static uint16_t encode(float x) { return bf16_bits(round_to_bf16(x)); }
  static float decode(uint16_t h) { return bf16_value(h); }
};
template <>
struct Half<DType::F16> {
  static uint16_t encode(float x) { return fp16_bits(round_to_fp16(x)); }
  static float decode(uint16_t h) { return fp16_value(h); }
};

// Gloo's reduce function for 16-bit floats: c[i] = a[i] + b[i], added in fp32.
template <DType T>
void sum16(void* c, const void* a, const void* b, size_t n) {
  auto* out = static_cast<uint16_t*>(c);
  auto* x = static_cast<const uint16_t*>(a);
  auto* y = static_cast<const uint16_t*>(b);
  for (size_t i = 0; i < n; ++i) out[i] = Half<T>::encode(Half<T>::decode(x[i]) + Half<T>::decode(y[i]));
}

// Calls f(T{}, sum) with T the C++ type of t (uint16_t for 16-bit floats) and sum Gloo's reduce function for it.
template <class F>
void with_type(DType t, F&& f) {
  using Reduce = void (*)(void*, const void*, const void*, size_t);
  switch (t) {
    case DType::F32: return f(float{}, static_cast<Reduce>(&gloo::sum<float>));
    case DType::F64: return f(double{}, static_cast<Reduce>(&gloo::sum<double>));
    case DType::I32: return f(int32_t{}, static_cast<Reduce>(&gloo::sum<int32_t>));
    case DType::BF16: return f(uint16_t{}, static_cast<Reduce>(&sum16<DType::BF16>));
    case DType::F16: return f(uint16_t{}, static_cast<Reduce>(&sum16<DType::F16>));
  }
}

void check_average(DType t) {
  RM_CHECK(t == DType::F32 || t == DType::F64, "INVALID_ARGUMENT",
           std::string("an average of ") + dtype_name(t) + " values: averages are float32 or float64 (sum 16-bit values, scaled first)");
}

template <class T>
void divide(T* p, size_t n, int by) {
  if constexpr (std::is_floating_point_v<T>) {
    for (size_t i = 0; i < n; ++i) p[i] /= T(by);
  }
}

// A subgroup's Gloo context: its pairs are made here and connected to addresses that arrive over
// the parent group's connections.
class SubgroupContext : public gloo::Context {
 public:
  SubgroupContext(int rank, int size, const std::shared_ptr<gloo::transport::Device>& device, std::chrono::milliseconds timeout)
      : gloo::Context(rank, size) {
    device_ = device;
    transportContext_ = device->createContext(rank, size);
    transportContext_->setTimeout(timeout);
    setTimeout(timeout);
  }
  std::vector<char> listen_for(int peer) { return transportContext_->createPair(peer)->address().bytes(); }
  void connect(int peer, const std::vector<char>& address) { transportContext_->getPair(peer)->connect(address); }
};

}  // namespace

GlooGroup::GlooGroup(const GlooGroupConfig& c, gloo::rendezvous::Store& store)
    : ProcessGroup(c.rank, c.size), timeout_(c.timeout) {
  RM_CHECK(c.size >= 1 && c.rank >= 0 && c.rank < c.size, "INVALID_ARGUMENT",
           "rank " + std::to_string(c.rank) + " is outside [0, " + std::to_string(c.size) + ")");
  gloo::transport::tcp::attr attr;
  attr.hostname = c.hostname;
  auto context = std::make_shared<gloo::rendezvous::Context>(c.rank, c.size);
  context->setTimeout(c.join_timeout);
  try {
    device_ = gloo::transport::tcp::CreateDevice(attr);
    context->connectFullMesh(store, device_);
    identities_ = exchange_identities(store, rank_, size_, c.machine.empty() ? machine_identity() : c.machine);
  } catch (const NativeError&) {
    throw;
  } catch (const std::exception& e) {
    throw NativeError("RENDEZVOUS_FAILED", "rank " + std::to_string(c.rank) + " of " + std::to_string(c.size) +
                                              " could not connect to its peers: " + e.what());
  }
  context->setTimeout(timeout_);
  context_ = context;
  start();
}

GlooGroup::GlooGroup(std::shared_ptr<gloo::transport::Device> device, std::shared_ptr<gloo::Context> context,
                     std::vector<std::string> identities, std::chrono::milliseconds timeout)
    : ProcessGroup(context->rank, context->size),
      device_(std::move(device)),
      context_(std::move(context)),
      identities_(std::move(identities)),
      timeout_(timeout) {
  start();
}

void GlooGroup::start() {
  topology_ = topology_of(identities_, rank_);
  queue_ = std::make_unique<OperationQueue>();
  if (size_ > 1 && topology_.machines == 1) {
    shm_ = map_on_machine<ShmAllReduce>(*this, "all-reduce", rank_, size_);
    seq_ = 0;  // the operations people issue are numbered from 1
  }
}

GlooGroup::~GlooGroup() = default;

std::string GlooGroup::describe(const char* op, uint64_t seq, size_t n, DType t) const {
  return std::string(op) + " #" + std::to_string(seq) + " (" + std::to_string(n) + " " + dtype_name(t) + ") on rank " +
         std::to_string(rank_) + " of " + std::to_string(size_);
}

template <class F>
void GlooGroup::run(const std::string& name, std::chrono::milliseconds timeout, F&& body) {
  auto fail = [&](const char* code, const std::string& why) { return NativeError(code, name + ": " + why); };
  OperationScope in_flight(name);
  try {
    body();
  } catch (const NativeError& e) {
    if (e.code() != "COLLECTIVE_TIMEOUT") throw;
    throw e.within(name + ": ");  // from the shared-memory path: names the missing ranks
  } catch (const gloo::IoException& e) {
    bool timed_out = std::strstr(e.what(), "Timed out") != nullptr;
    throw fail(timed_out ? "COLLECTIVE_TIMEOUT" : "COLLECTIVE_FAILED",
               timed_out ? "a peer did not take part within " + std::to_string(timeout.count()) + " ms (" + e.what() + ")"
                         : std::string("a peer went away (") + e.what() + ")");
  } catch (const gloo::Exception& e) {
    throw fail("COLLECTIVE_FAILED", e.what());
  }
}

template <class F>
WorkPtr GlooGroup::collective(const char* op, size_t n, DType t, F&& body) {
  uint64_t seq = ++seq_;
  std::string name = describe(op, seq, n, t);
  return queue_->submit(name, [this, name, seq, body = std::forward<F>(body)] { run(name, timeout_, [&] { body(uint32_t(seq)); }); });
}

WorkPtr GlooGroup::all_reduce(void* data, size_t n, DType t, ReduceOp op) {
  if (op == ReduceOp::Avg) check_average(t);
  return collective("all_reduce", n, t, [this, data, n, t, op](uint32_t tag) {
    with_type(t, [&](auto zero, auto sum) {
      using T = decltype(zero);
      T* p = static_cast<T*>(data);
      if constexpr (std::is_floating_point_v<T>) {
        if (shm_) return shm_->all_reduce(p, n, t, op);
      }
      if (size_ > 1) {
        gloo::AllreduceOptions opts(context_);
        opts.setOutput(p, n);  // in place
        opts.setReduceFunction(sum);
        opts.setTag(tag);
        opts.setTimeout(timeout_);
        gloo::allreduce(opts);
      }
      if (op == ReduceOp::Avg) divide(p, n, size_);
    });
  });
}

WorkPtr GlooGroup::broadcast(void* data, size_t n, DType t, int root) {
  RM_CHECK(root >= 0 && root < size_, "INVALID_ARGUMENT", "broadcast root " + std::to_string(root) + " is not a rank");
  return collective("broadcast", n, t, [this, data, n, t, root](uint32_t tag) {
    if (size_ == 1) return;
    with_type(t, [&](auto zero, auto) {
      using T = decltype(zero);
      gloo::BroadcastOptions opts(context_);
      opts.setOutput(static_cast<T*>(data), n);
      opts.setRoot(root);
      opts.setTag(tag);
      opts.setTimeout(timeout_);
      gloo::broadcast(opts);
    });
  });
}

WorkPtr GlooGroup::all_gather(void* out, const void* in, size_t n, DType t) {
  return collective("all_gather", n, t, [this, out, in, n, t](uint32_t tag) {
    with_type(t, [&](auto zero, auto) {
      using T = decltype(zero);
      gloo::AllgatherOptions opts(context_);
      opts.setInput(const_cast<T*>(static_cast<const T*>(in)), n);
      opts.setOutput(static_cast<T*>(out), n * size_t(size_));
      opts.setTag(tag);
      opts.setTimeout(timeout_);
      gloo::allgather(opts);
    });
  });
}

// Ring reduce-scatter: in N−1 steps each rank passes one chunk to its successor and adds the
// chunk arriving from its predecessor; at step s rank r sends chunk (r−s−1) mod N and reduces
// chunk (r−s−2) mod N, so after the last step it holds the full reduction of chunk r.
WorkPtr GlooGroup::reduce_scatter(void* out, const void* in, size_t n, DType t, ReduceOp op) {
  if (op == ReduceOp::Avg) check_average(t);
  return collective("reduce_scatter", n, t, [this, out, in, n, t, op](uint32_t tag) {
    with_type(t, [&](auto zero, auto sum) {
      using T = decltype(zero);
      int N = size_, r = rank_;
      std::vector<T> work(static_cast<const T*>(in), static_cast<const T*>(in) + n * size_t(N));
      std::vector<T> incoming(n);
      auto chunk = [&](int k) { return work.data() + size_t(((k % N) + N) % N) * n; };
      auto bytes = n * sizeof(T);
      for (int s = 0; s + 1 < N; ++s) {
        uint64_t slot = gloo::Slot::build(kReduceScatterSlot, tag) + uint8_t(s);
        auto send = context_->createUnboundBuffer(chunk(r - s - 1), bytes);
        auto recv = context_->createUnboundBuffer(incoming.data(), bytes);
        send->send((r + 1) % N, slot);
        recv->recv((r + N - 1) % N, slot);
        recv->waitRecv(timeout_);
        send->waitSend(timeout_);
        T* dst = chunk(r - s - 2);
        sum(dst, dst, incoming.data(), n);
      }
      std::memcpy(out, chunk(r), bytes);
      if (op == ReduceOp::Avg) divide(static_cast<T*>(out), n, N);
    });
  });
}

// Posted at once on the caller's thread: Gloo's transport moves the bytes while the caller goes on.
WorkPtr GlooGroup::send(const void* data, size_t n, DType t, int dst, uint32_t tag) {
  RM_CHECK(dst >= 0 && dst < size_ && dst != rank_, "INVALID_ARGUMENT", "send to " + std::to_string(dst) + ": not a peer");
  std::string name = describe("send", ++p2p_seq_, n, t) + " to rank " + std::to_string(dst) + " (tag " + std::to_string(tag) + ")";
  std::shared_ptr<gloo::transport::UnboundBuffer> buffer = context_->createUnboundBuffer(const_cast<void*>(data), n * dtype_size(t));
  run(name, timeout_, [&] { buffer->send(dst, gloo::Slot::build(kSendRecvSlot, tag)); });
  return std::make_shared<CallWork>([this, name, buffer](std::chrono::milliseconds timeout) {
    run(name, timeout, [&] { buffer->waitSend(std::min(timeout, timeout_)); });
  });
}

WorkPtr GlooGroup::recv(void* data, size_t n, DType t, int src, uint32_t tag) {
  RM_CHECK(src >= 0 && src < size_ && src != rank_, "INVALID_ARGUMENT", "recv from " + std::to_string(src) + ": not a peer");
  std::string name = describe("recv", ++p2p_seq_, n, t) + " from rank " + std::to_string(src) + " (tag " + std::to_string(tag) + ")";
  std::shared_ptr<gloo::transport::UnboundBuffer> buffer = context_->createUnboundBuffer(data, n * dtype_size(t));
  run(name, timeout_, [&] { buffer->recv(src, gloo::Slot::build(kSendRecvSlot, tag)); });
  return std::make_shared<CallWork>([this, name, buffer](std::chrono::milliseconds timeout) {
    run(name, timeout, [&] { buffer->waitRecv(std::min(timeout, timeout_)); });
  });
}

WorkPtr GlooGroup::barrier() {
  return collective("barrier", 0, DType::F32, [this](uint32_t tag) {
    gloo::BarrierOptions opts(context_);
    opts.setTag(tag);
    opts.setTimeout(timeout_);
    gloo::barrier(opts);
  });
}

std::shared_ptr<ProcessGroup> GlooGroup::new_group(const std::vector<int>& ranks) {
  bool valid = !ranks.empty() && ranks.front() >= 0 && ranks.back() < size_;
  for (size_t i = 1; i < ranks.size(); ++i) valid = valid && ranks[i - 1] < ranks[i];
  RM_CHECK(valid, "INVALID_ARGUMENT", "a subgroup lists distinct ranks of its group, ascending");
  uint32_t id = ++subgroups_;
  auto me = std::find(ranks.begin(), ranks.end(), rank_);
  if (me == ranks.end()) return nullptr;
  int sub_rank = int(me - ranks.begin());
  auto context = std::make_shared<std::shared_ptr<gloo::Context>>();
  std::string name = "new_group #" + std::to_string(id) + " (" + std::to_string(ranks.size()) + " ranks) on rank " +
                     std::to_string(rank_) + " of " + std::to_string(size_);
  queue_->submit(name, [this, ranks, sub_rank, id, context] { *context = connect_subgroup(ranks, sub_rank, id); })->wait(wait_bound());
  std::vector<std::string> identities;
  for (int q : ranks) identities.push_back(identities_[size_t(q)]);
  return std::shared_ptr<GlooGroup>(new GlooGroup(device_, *context, std::move(identities), timeout_));
}

// Every member listens for each other member on a pair of its own and sends that pair's address
// to the member over the parent's connection; then each pair connects to the address it got, in
// rank order, as Gloo's full-mesh rendezvous does.
std::shared_ptr<gloo::Context> GlooGroup::connect_subgroup(const std::vector<int>& ranks, int sub_rank, uint32_t id) {
  constexpr size_t kAddressBytes = 256;  // a length, then the address (Gloo's are at most 192 bytes)
  int size = int(ranks.size());
  auto context = std::make_shared<SubgroupContext>(sub_rank, size, device_, timeout_);
  std::vector<std::vector<char>> mine(static_cast<size_t>(size), std::vector<char>(kAddressBytes));
  std::vector<std::vector<char>> theirs = mine;
  std::vector<std::unique_ptr<gloo::transport::UnboundBuffer>> posted;
  auto slot = gloo::Slot::build(kSubgroupSlot, id);
  run("new_group #" + std::to_string(id), timeout_, [&] {
    for (int q = 0; q < size; ++q) {
      if (q == sub_rank) continue;
      std::vector<char> address = context->listen_for(q);
      RM_CHECK(address.size() + 4 <= kAddressBytes, "INTERNAL", "a Gloo address of " + std::to_string(address.size()) + " bytes");
      uint32_t length = uint32_t(address.size());
      std::memcpy(mine[size_t(q)].data(), &length, 4);
      std::memcpy(mine[size_t(q)].data() + 4, address.data(), address.size());
      posted.push_back(context_->createUnboundBuffer(mine[size_t(q)].data(), kAddressBytes));
      posted.back()->send(ranks[size_t(q)], slot);
      posted.push_back(context_->createUnboundBuffer(theirs[size_t(q)].data(), kAddressBytes));
      posted.back()->recv(ranks[size_t(q)], slot);
    }
    for (size_t i = 0; i < posted.size(); i += 2) {
      posted[i]->waitSend(timeout_);
      posted[i + 1]->waitRecv(timeout_);
    }
    for (int q = 0; q < size; ++q) {
      if (q == sub_rank) continue;
      uint32_t length;
      std::memcpy(&length, theirs[size_t(q)].data(), 4);
      RM_CHECK(length + 4 <= kAddressBytes, "COLLECTIVE_FAILED", "a subgroup peer sent a malformed address");
      context->connect(q, std::vector<char>(theirs[size_t(q)].begin() + 4, theirs[size_t(q)].begin() + 4 + length));
    }
  });
  return context;
}

double GlooGroup::time_all_reduce(size_t n, int iterations, Path path) {
  std::vector<float> own(n, float(rank_));
  float* data = own.data();
  std::unique_ptr<SharedBuffers> shared;
  if (path == Path::SharedInPlace) {
    RM_CHECK(shm_ != nullptr, "INVALID_ARGUMENT", "no shared buffer: the ranks are not on one machine");
    shared = map_on_machine<SharedBuffers>(*this, "bench", rank_, size_, n, 0, false);
    data = shared->mine();
    std::fill(data, data + n, float(rank_));
  }
  std::unique_ptr<ShmAllReduce> parked = path == Path::Tcp ? std::move(shm_) : nullptr;  // every rank parks alike
  auto restore = [&] {
    if (parked) shm_ = std::move(parked);
  };
  auto once = [&] {
    if (path == Path::SharedInPlace) return shared->all_reduce(ReduceOp::Sum);
    if (path != Path::GlooDirect) return all_reduce_now(data, n, DType::F32, ReduceOp::Sum);
    gloo::AllreduceOptions opts(context_);  // Gloo as a program of its own would call it
    opts.setOutput(data, n);
    opts.setReduceFunction(static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
    opts.setTimeout(timeout_);  // a bench that cannot hang
    gloo::allreduce(opts);
  };
  double best = 1e30;
  try {
    barrier_now();
    for (int i = 0; i < iterations; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      once();
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  } catch (...) {
    restore();
    throw;
  }
  restore();
  return best;
}

}  // namespace rm
