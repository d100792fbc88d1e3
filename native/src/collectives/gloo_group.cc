#include "gloo_group.h"

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/error.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/prefix_store.h>
#include <gloo/transport/tcp/device.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <type_traits>
#include <vector>

#include "../core/common.h"
#include "compressed_sum.h"
#include "shm_factors.h"

namespace rm {

// Calls f(T{}) with T the C++ type of t.
template <class F>
static void with_type(DType t, F&& f) {
  switch (t) {
    case DType::F32: return f(float{});
    case DType::F64: return f(double{});
    case DType::I32: return f(int32_t{});
    case DType::BF16:
    case DType::F16: break;
  }
  throw NativeError("INVALID_ARGUMENT", std::string("collectives take float32, float64 or int32, not ") + dtype_name(t));
}

template <class T>
static void divide(T* p, size_t n, int by) {
  if constexpr (std::is_floating_point_v<T>) {
    for (size_t i = 0; i < n; ++i) p[i] /= T(by);
  } else {
    throw NativeError("INVALID_ARGUMENT", "average is defined for floating-point types only");
  }
}

// Slots for point-to-point traffic, apart from the ones Gloo's collectives derive from tags.
constexpr uint8_t kSendRecvSlot = 0xfe;
constexpr uint8_t kReduceScatterSlot = 0xfd;

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
  } catch (const NativeError&) {
    throw;
  } catch (const std::exception& e) {
    throw NativeError("RENDEZVOUS_FAILED", "rank " + std::to_string(c.rank) + " of " + std::to_string(c.size) +
                                              " could not connect to its peers: " + e.what());
  }
  context_ = context;
  if (c.size > 1) join_machine(store, c.machine.empty() ? machine_identity() : c.machine, c.join_timeout);
  context->setTimeout(timeout_);
}

void GlooGroup::join_machine(gloo::rendezvous::Store& store, const std::string& identity, std::chrono::milliseconds timeout) {
  topology_ = discover_topology(store, rank_, size_, identity);
  if (!topology_.uniform) return;  // Gloo carries everything
  std::string key = "shm/" + std::to_string(topology_.machine);
  bool creator = topology_.local_rank == 0;
  if (creator) {
    shm_name_ = "/ringmaster-" + std::to_string(getpid()) + "-" + std::to_string(std::random_device{}());
  } else {
    auto v = store.get(key);
    shm_name_.assign(v.begin(), v.end());
  }
  if (topology_.machines == 1) shm_ = std::make_unique<ShmAllReduce>(shm_name_, rank_, size_, creator, timeout_);
  // Published only once the segment exists: a peer opens it as soon as it reads the name.
  if (creator) store.set(key, std::vector<char>(shm_name_.begin(), shm_name_.end()));
  if (topology_.machines > 1) {
    gloo::rendezvous::PrefixStore peers("across/" + std::to_string(topology_.local_rank), store);
    auto across = std::make_shared<gloo::rendezvous::Context>(topology_.machine, topology_.machines);
    across->setTimeout(timeout);
    try {
      across->connectFullMesh(peers, device_);
      across->setTimeout(timeout_);
    } catch (const gloo::Exception& e) {
      throw NativeError("RENDEZVOUS_FAILED", "rank " + std::to_string(rank_) + " could not connect to the ranks of local rank " +
                                                std::to_string(topology_.local_rank) + " on the other machines: " + e.what());
    }
    across_ = across;
  }
  gloo::BarrierOptions opts(context_);  // tag 0: numbered operations start at 1
  opts.setTimeout(timeout);
  gloo::barrier(opts);  // every rank has the segment mapped: its name can go
  if (shm_ && creator) shm_->unlink();
}

GlooGroup::~GlooGroup() = default;

template <class F>
void GlooGroup::run(const char* op, size_t n, DType t, F&& body) {
  uint64_t seq = ++seq_;
  auto fail = [&](const char* code, const std::string& why) {
    return NativeError(code, std::string(op) + " #" + std::to_string(seq) + " (" + std::to_string(n) + " " +
                                 dtype_name(t) + ") on rank " + std::to_string(rank_) + " of " +
                                 std::to_string(size_) + ": " + why);
  };
  try {
    body(uint32_t(seq));
  } catch (const NativeError& e) {
    if (e.code() != "COLLECTIVE_TIMEOUT") throw;
    throw fail("COLLECTIVE_TIMEOUT", e.what());  // from the shared-memory path: names the missing ranks
  } catch (const gloo::IoException& e) {
    bool timed_out = std::strstr(e.what(), "Timed out") != nullptr;
    throw fail(timed_out ? "COLLECTIVE_TIMEOUT" : "COLLECTIVE_FAILED",
               timed_out ? "a peer did not take part within " + std::to_string(timeout_.count()) + " ms (" + e.what() + ")"
                         : std::string("a peer went away (") + e.what() + ")");
  } catch (const gloo::Exception& e) {
    throw fail("COLLECTIVE_FAILED", e.what());
  }
}

void GlooGroup::all_reduce(void* data, size_t n, DType t, ReduceOp op) {
  run("all_reduce", n, t, [&](uint32_t tag) {
    with_type(t, [&](auto zero) {
      using T = decltype(zero);
      T* p = static_cast<T*>(data);
      if constexpr (std::is_same_v<T, float>) {
        if (shm_ && shared_ && p == shared_->mine() && n == shared_->count()) return shared_->all_reduce(op);
      }
      if constexpr (std::is_floating_point_v<T>) {
        if (shm_) return shm_->all_reduce(p, n, t, op);
      }
      if (size_ > 1) {
        gloo::AllreduceOptions opts(context_);
        opts.setOutput(p, n);  // in place
        opts.setReduceFunction(static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<T>));
        opts.setTag(tag);
        opts.setTimeout(timeout_);
        gloo::allreduce(opts);
      }
      if (op == ReduceOp::Avg) divide(p, n, size_);
    });
  });
}

double GlooGroup::time_all_reduce(size_t n, int iterations, Path path) {
  std::vector<float> own(n, float(rank_));
  float* data = own.data();
  if (path == Path::SharedInPlace) {
    RM_CHECK(shm_ != nullptr, "INVALID_ARGUMENT", "no shared buffer: the ranks are not on one machine");
    map_shared_buffers(n, 0, false);
    data = shared_->mine();
    std::fill(data, data + n, float(rank_));
  }
  std::unique_ptr<ShmAllReduce> parked = path == Path::Tcp ? std::move(shm_) : nullptr;  // every rank parks alike
  auto restore = [&] {
    if (parked) shm_ = std::move(parked);
  };
  auto once = [&] {
    if (path != Path::GlooDirect) return all_reduce(data, n, DType::F32, ReduceOp::Sum);
    gloo::AllreduceOptions opts(context_);  // Gloo as a program of its own would call it
    opts.setOutput(data, n);
    opts.setReduceFunction(static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
    opts.setTimeout(timeout_);  // a bench that cannot hang
    gloo::allreduce(opts);
  };
  double best = 1e30;
  try {
    barrier();
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

void GlooGroup::broadcast(void* data, size_t n, DType t, int root) {
  RM_CHECK(root >= 0 && root < size_, "INVALID_ARGUMENT", "broadcast root " + std::to_string(root) + " is not a rank");
  run("broadcast", n, t, [&](uint32_t tag) {
    if (size_ == 1) return;
    with_type(t, [&](auto zero) {
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

void GlooGroup::all_gather(void* out, const void* in, size_t n, DType t) {
  run("all_gather", n, t, [&](uint32_t tag) {
    with_type(t, [&](auto zero) {
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
void GlooGroup::reduce_scatter(void* out, const void* in, size_t n, DType t, ReduceOp op) {
  run("reduce_scatter", n, t, [&](uint32_t tag) {
    with_type(t, [&](auto zero) {
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
        for (size_t i = 0; i < n; ++i) dst[i] += incoming[i];
      }
      std::memcpy(out, chunk(r), bytes);
      if (op == ReduceOp::Avg) divide(static_cast<T*>(out), n, N);
    });
  });
}

void GlooGroup::send(const void* data, size_t n, DType t, int dst, uint32_t tag) {
  RM_CHECK(dst >= 0 && dst < size_ && dst != rank_, "INVALID_ARGUMENT", "send to " + std::to_string(dst) + ": not a peer");
  run("send", n, t, [&](uint32_t) {
    auto buf = context_->createUnboundBuffer(const_cast<void*>(data), n * dtype_size(t));
    buf->send(dst, gloo::Slot::build(kSendRecvSlot, tag));
    buf->waitSend(timeout_);
  });
}

void GlooGroup::recv(void* data, size_t n, DType t, int src, uint32_t tag) {
  RM_CHECK(src >= 0 && src < size_ && src != rank_, "INVALID_ARGUMENT", "recv from " + std::to_string(src) + ": not a peer");
  run("recv", n, t, [&](uint32_t) {
    auto buf = context_->createUnboundBuffer(data, n * dtype_size(t));
    buf->recv(src, gloo::Slot::build(kSendRecvSlot, tag));
    buf->waitRecv(timeout_);
  });
}

template <class Segment, class... Args>
std::unique_ptr<Segment> GlooGroup::map_on_machine(const std::string& suffix, Args&&... args) {
  bool create = topology_.local_rank == 0;
  std::unique_ptr<Segment> segment;
  auto map = [&] { segment = std::make_unique<Segment>(shm_name_ + suffix, std::forward<Args>(args)..., create, timeout_); };
  if (create) map();
  try {
    barrier();  // created: the others can open it
    if (!create) map();
    barrier();  // all mapped: the name can go
  } catch (...) {
    if (segment && create) segment->unlink();  // nothing left behind in /dev/shm
    throw;
  }
  if (create) segment->unlink();
  return segment;
}

void GlooGroup::map_shared_buffers(size_t n, int moments, bool compute_copy) {
  shared_ = map_on_machine<SharedBuffers>("-training", topology_.local_rank, topology_.local_size, n, moments, compute_copy);
}

bool GlooGroup::share_training_state(size_t n, const TrainingState& initial, TrainingState* out) {
  if (size_ < 2 || !topology_.uniform) return false;
  bool compute_copy = initial.compute_params != nullptr;
  map_shared_buffers(n, initial.moment_count, compute_copy);
  if (topology_.local_rank == 0) {
    std::memcpy(shared_->params(), initial.params, n * sizeof(float));
    for (int i = 0; i < initial.moment_count; ++i) std::memcpy(shared_->moment(i), initial.moments[i], n * sizeof(float));
    if (compute_copy) std::memcpy(shared_->compute_params(), initial.compute_params, n * sizeof(float));
  }
  publish_parameter_shards();
  out->grads = shared_->mine();
  out->params = shared_->params();
  out->moment_count = initial.moment_count;
  for (int i = 0; i < initial.moment_count; ++i) out->moments[i] = shared_->moment(i);
  out->compute_params = compute_copy ? shared_->compute_params() : nullptr;
  return true;
}

double GlooGroup::reduce_gradient_shard(Range bucket, Range* shard) {
  RM_CHECK(shared_ != nullptr, "STATE", "reduce_gradient_shard before share_training_buffers");
  double squares = 0;
  run("reduce_gradient_shard", bucket.end - bucket.begin, DType::F32, [&](uint32_t tag) {
    SharedBuffers::AcrossMachines across;
    if (across_) across = [&](float* data, size_t n, float scale) { return sum_gradients(across_, data, n, scale, tag); };
    squares = shared_->reduce_shard(bucket, shard, across, size_);
  });
  return squares;
}

float GlooGroup::sum_gradients(const std::shared_ptr<gloo::Context>& context, float* data, size_t n, float scale, uint32_t tag) {
  if (wire_ != Precision::F32) {
    wire_bytes_ += compressed_sum(context, data, n, scale, wire_, tag, timeout_);
    return 1.0f;
  }
  gloo::AllreduceOptions opts(context);
  opts.setOutput(data, n);
  opts.setReduceFunction(static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
  opts.setTag(tag);
  opts.setTimeout(timeout_);
  gloo::allreduce(opts);
  wire_bytes_ += n * sizeof(float);
  return scale;
}

void GlooGroup::all_reduce_gradients(float* data, size_t n) {
  if (shm_ || size_ < 2) return all_reduce(data, n, DType::F32, ReduceOp::Avg);  // one machine: through memory
  run("all_reduce_gradients", n, DType::F32, [&](uint32_t tag) {
    float remaining = sum_gradients(context_, data, n, 1.0f / float(size_), tag);
    if (remaining != 1.0f)
      for (size_t i = 0; i < n; ++i) data[i] *= remaining;
  });
}

void GlooGroup::sum_over_shards(double* values, size_t n) {
  run("sum_over_shards", n, DType::F64, [&](uint32_t) { shared_->sum_over_ranks(values, n); });
}

std::unique_ptr<FactorExchange> GlooGroup::share_factor_exchange(const std::vector<FactorShape>& slots, size_t max_batch) {
  if (!shared_ || topology_.machines != 1 || slots.empty()) return nullptr;  // the same on every rank
  return map_on_machine<ShmFactorExchange>("-factors", slots, max_batch, rank_, size_);
}

void GlooGroup::publish_parameter_shards() {
  run("publish_parameter_shards", shared_->count(), DType::F32, [&](uint32_t) { shared_->barrier(); });
}

void GlooGroup::barrier() {
  run("barrier", 0, DType::F32, [&](uint32_t tag) {
    gloo::BarrierOptions opts(context_);
    opts.setTag(tag);
    opts.setTimeout(timeout_);
    gloo::barrier(opts);
  });
}

}  // namespace rm
