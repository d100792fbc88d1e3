// The JS class `ProcessGroup` and createProcessGroup(): collectives over typed arrays, each issued
// at once on a copy of the array (in the order of the calls, which every rank must share) and
// resolved with the result when it completes. Training runs its collectives on the engine's own
// buffers; this surface is for tests, benchmarks and small control messages (flags, metrics).
#include <algorithm>
#include <iterator>
#include <memory>
#include <utility>
#include <vector>

#include "binding_util.h"
#include "../collectives/gloo_group.h"
#ifdef RINGMASTER_WITH_CUDA
#include "../cuda/nccl_group.h"
#endif
#include "pg_binding.h"
#include "store_bridge.h"

namespace rm {

namespace {

struct Bytes {
  DType type;
  std::vector<uint8_t> data;
  size_t count() const { return data.size() / dtype_size(type); }
};

Bytes read_array(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray()) throw NativeError("INVALID_ARGUMENT", std::string(what) + " must be a Float32Array, Float64Array or Int32Array");
  auto a = v.As<Napi::TypedArray>();
  DType t;
  switch (a.TypedArrayType()) {
    case napi_float32_array: t = DType::F32; break;
    case napi_float64_array: t = DType::F64; break;
    case napi_int32_array: t = DType::I32; break;
    default: throw NativeError("INVALID_ARGUMENT", std::string(what) + " must be a Float32Array, Float64Array or Int32Array");
  }
  auto* base = static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  return {t, std::vector<uint8_t>(base, base + a.ByteLength())};
}

Napi::Value to_array(Napi::Env env, const Bytes& b) {
  size_t n = b.count();
  Napi::TypedArray out;
  if (b.type == DType::F32) out = Napi::Float32Array::New(env, n);
  else if (b.type == DType::F64) out = Napi::Float64Array::New(env, n);
  else out = Napi::Int32Array::New(env, n);
  std::memcpy(static_cast<uint8_t*>(out.ArrayBuffer().Data()) + out.ByteOffset(), b.data.data(), b.data.size());
  return out;
}

ReduceOp read_op(const Napi::Value& v) {
  std::string op = v.IsString() ? v.As<Napi::String>().Utf8Value() : "sum";
  RM_CHECK(op == "sum" || op == "avg", "INVALID_ARGUMENT", "op must be \"sum\" or \"avg\"");
  return op == "sum" ? ReduceOp::Sum : ReduceOp::Avg;
}

}  // namespace

class ProcessGroupWrap : public Napi::ObjectWrap<ProcessGroupWrap> {
 public:
  static Napi::FunctionReference constructor;

  static void define(Napi::Env env) {
    constructor = Napi::Persistent(DefineClass(env, "ProcessGroup", {
      InstanceAccessor<&ProcessGroupWrap::rank>("rank"),
      InstanceAccessor<&ProcessGroupWrap::size>("size"),
      InstanceAccessor<&ProcessGroupWrap::topology>("topology"),
      InstanceMethod<&ProcessGroupWrap::all_reduce>("allReduce"),
      InstanceMethod<&ProcessGroupWrap::broadcast>("broadcast"),
      InstanceMethod<&ProcessGroupWrap::all_gather>("allGather"),
      InstanceMethod<&ProcessGroupWrap::reduce_scatter>("reduceScatter"),
      InstanceMethod<&ProcessGroupWrap::send>("send"),
      InstanceMethod<&ProcessGroupWrap::recv>("recv"),
      InstanceMethod<&ProcessGroupWrap::barrier>("barrier"),
      InstanceMethod<&ProcessGroupWrap::new_group>("newGroup"),
      InstanceMethod<&ProcessGroupWrap::time_all_reduce>("timeAllReduce"),
    }));
  }

  explicit ProcessGroupWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessGroupWrap>(info) {
    group_ = *info[0].As<Napi::External<std::shared_ptr<ProcessGroup>>>().Data();
  }

  static Napi::Value wrap(Napi::Env env, std::shared_ptr<ProcessGroup> group) {
    if (!group) return env.Null();
    return constructor.New({Napi::External<std::shared_ptr<ProcessGroup>>::New(env, &group)});
  }

  std::shared_ptr<ProcessGroup> group() const { return group_; }

 private:
  Napi::Value rank(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), group_->rank()); }
  Napi::Value size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), group_->size()); }
  Napi::Value topology(const Napi::CallbackInfo& info) {
    Topology t = group_->topology();
    auto o = Napi::Object::New(info.Env());
    o.Set("machines", t.machines);
    o.Set("machine", t.machine);
    o.Set("localRank", t.local_rank);
    o.Set("localSize", t.local_size);
    o.Set("uniform", t.uniform);
    return o;
  }

  // Issues `op` on `bytes` now and resolves, once it completes, with the (possibly replaced)
  // bytes, or with undefined when `result` is false. The wait has no bound of its own: every
  // operation fails by itself after the group's timeout, and the bytes must outlive it.
  Napi::Value run(const Napi::CallbackInfo& info, std::shared_ptr<Bytes> bytes, const std::function<WorkPtr(Bytes&)>& op, bool result = true,
                  std::function<void(Bytes&)> after = nullptr) {
    WorkPtr work = op(*bytes);
    auto* task = new Task(info.This().As<Napi::Object>(), 1,
                          [work, bytes, after] {
                            work->wait(std::chrono::hours(24));
                            if (after) after(*bytes);
                          },
                          [bytes, result](Napi::Env env) { return result ? to_array(env, *bytes) : env.Undefined(); }, [] {});
    task->Queue();
    return task->promise();
  }

  Napi::Value all_reduce(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&] {
      auto b = std::make_shared<Bytes>(read_array(info[0], "data"));
      ReduceOp op = read_op(info[1]);
      return run(info, b, [this, op](Bytes& x) { return group_->all_reduce(x.data.data(), x.count(), x.type, op); });
    });
  }

  Napi::Value broadcast(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&] {
      auto b = std::make_shared<Bytes>(read_array(info[0], "data"));
      int root = int(require_count(info[1], "root"));
      return run(info, b, [this, root](Bytes& x) { return group_->broadcast(x.data.data(), x.count(), x.type, root); });
    });
  }

  Napi::Value all_gather(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&] {
      auto b = std::make_shared<Bytes>(read_array(info[0], "data"));
      auto out = std::make_shared<std::vector<uint8_t>>(b->data.size() * size_t(group_->size()));
      return run(info, b, [this, out](Bytes& x) { return group_->all_gather(out->data(), x.data.data(), x.count(), x.type); }, true,
                 [out](Bytes& x) { x.data = std::move(*out); });
    });
  }

  Napi::Value reduce_scatter(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&] {
      auto b = std::make_shared<Bytes>(read_array(info[0], "data"));
      ReduceOp op = read_op(info[1]);
      RM_CHECK(b->count() % size_t(group_->size()) == 0, "INVALID_ARGUMENT", "reduceScatter needs a length divisible by the group size");
      auto out = std::make_shared<std::vector<uint8_t>>(b->data.size() / size_t(group_->size()));
      return run(info, b, [this, op, out](Bytes& x) { return group_->reduce_scatter(out->data(), x.data.data(), x.count() / size_t(group_->size()), x.type, op); }, true,
                 [out](Bytes& x) { x.data = std::move(*out); });
    });
  }

  Napi::Value send(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&] {
      auto b = std::make_shared<Bytes>(read_array(info[0], "data"));
      int dst = int(require_count(info[1], "dst"));
      uint32_t tag = uint32_t(require_count(info[2], "tag"));
      return run(info, b, [this, dst, tag](Bytes& x) { return group_->send(x.data.data(), x.count(), x.type, dst, tag); }, false);
    });
  }

  // recv(like, src, tag): `like` gives the type and length of what arrives.
  Napi::Value recv(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&] {
      auto b = std::make_shared<Bytes>(read_array(info[0], "like"));
      int src = int(require_count(info[1], "src"));
      uint32_t tag = uint32_t(require_count(info[2], "tag"));
      return run(info, b, [this, src, tag](Bytes& x) { return group_->recv(x.data.data(), x.count(), x.type, src, tag); });
    });
  }

  Napi::Value barrier(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&] {
      return run(info, std::make_shared<Bytes>(Bytes{DType::F32, {}}), [this](Bytes&) { return group_->barrier(); }, false);
    });
  }

  // newGroup(ranks: number[]) → Promise<ProcessGroup | null>: collective (see ProcessGroup::new_group);
  // issue nothing else on this group until it settles.
  Napi::Value new_group(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&] {
      RM_CHECK(info[0].IsArray(), "INVALID_ARGUMENT", "newGroup takes an array of ranks");
      auto list = info[0].As<Napi::Array>();
      std::vector<int> ranks;
      for (uint32_t i = 0; i < list.Length(); ++i) ranks.push_back(int(require_count(list.Get(i), "rank")));
      auto sub = std::make_shared<std::shared_ptr<ProcessGroup>>();
      auto group = group_;
      auto* task = new Task(info.This().As<Napi::Object>(), 1, [group, ranks, sub] { *sub = group->new_group(ranks); },
                            [sub](Napi::Env env) { return wrap(env, *sub); }, [] {});
      task->Queue();
      return Napi::Value(task->promise());
    });
  }

  // timeAllReduce(elements, iterations, path: 'gloo-direct' | 'tcp' | 'shared-copy' | 'shared-in-place') → Promise<seconds>: for bench/ only.
  Napi::Value time_all_reduce(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&] {
      size_t n = require_count(info[0], "elements");
      int iterations = int(require_count(info[1], "iterations"));
      std::string which = info[2].ToString().Utf8Value();
      using P = GlooGroup::Path;
      const std::pair<const char*, P> paths[] = {{"gloo-direct", P::GlooDirect}, {"tcp", P::Tcp}, {"shared-copy", P::SharedCopy}, {"shared-in-place", P::SharedInPlace}};
      auto found = std::find_if(std::begin(paths), std::end(paths), [&](const auto& p) { return which == p.first; });
      RM_CHECK(found != std::end(paths), "INVALID_ARGUMENT", "path must be gloo-direct, tcp, shared-copy or shared-in-place");
      P path = found->second;
      auto* gloo = dynamic_cast<GlooGroup*>(group_.get());
      RM_CHECK(gloo != nullptr, "INVALID_ARGUMENT", "timeAllReduce needs a Gloo group");
      auto seconds = std::make_shared<double>(0);
      auto keep = group_;  // the group outlives the bench
      auto* task = new Task(info.This().As<Napi::Object>(), 1, [gloo, keep, n, iterations, path, seconds] { *seconds = gloo->time_all_reduce(n, iterations, path); },
                            [seconds](Napi::Env env) { return Napi::Value(Napi::Number::New(env, *seconds)); }, [] {});
      task->Queue();
      return Napi::Value(task->promise());
    });
  }

  std::shared_ptr<ProcessGroup> group_;  // shared with an engine that trains through it
};

Napi::FunctionReference ProcessGroupWrap::constructor;

#ifdef RINGMASTER_WITH_CUDA
// The rendezvous store as the NCCL group sees it, over the Gloo-shaped bridge to JavaScript.
class BridgeKeyValueStore final : public KeyValueStore {
 public:
  explicit BridgeKeyValueStore(JsStore& store) : store_(store) {}
  void set(const std::string& key, const std::vector<char>& value) override { store_.set(key, value); }
  std::vector<char> get(const std::string& key, std::chrono::milliseconds timeout) override {
    store_.wait({key}, timeout);
    return store_.get(key);
  }

 private:
  JsStore& store_;
};
#endif

// NCCL over GPU 0 of this process (the agent gives each cuda rank its own GPU as the only one).
static std::shared_ptr<ProcessGroup> join_nccl(const GlooGroupConfig& c, JsStore& store) {
#ifdef RINGMASTER_WITH_CUDA
  BridgeKeyValueStore kv(store);
  NcclGroupConfig n;
  n.rank = c.rank;
  n.size = c.size;
  n.timeout = c.timeout;
  n.join_timeout = c.join_timeout;
  return NcclGroup::join(n, kv, cuda_device(0));
#else
  (void)c, (void)store;
  throw NativeError("CUDA_UNAVAILABLE", "the NCCL process group needs a build of Ringmaster with CUDA");
#endif
}

// createProcessGroup({ rank, size, hostname, machine?, timeoutMs, joinTimeoutMs?, store, backend? }) → Promise<ProcessGroup>
// backend: "gloo" (the default) or "nccl" (ranks on GPUs).
static Napi::Value create_process_group(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&] {
    auto o = require_object(info[0], "options");
    std::string backend = o.Has("backend") && !o.Get("backend").IsUndefined() ? o.Get("backend").ToString().Utf8Value() : "gloo";
    RM_CHECK(backend == "gloo" || backend == "nccl", "INVALID_ARGUMENT", "backend must be \"gloo\" or \"nccl\"");
    GlooGroupConfig c;
    c.rank = int(require_count(o.Get("rank"), "rank"));
    c.size = int(require_count(o.Get("size"), "size"));
    c.hostname = o.Get("hostname").ToString().Utf8Value();
    if (o.Has("machine") && !o.Get("machine").IsUndefined()) c.machine = o.Get("machine").ToString().Utf8Value();
    c.timeout = std::chrono::milliseconds(int64_t(require_count(o.Get("timeoutMs"), "timeoutMs")));
    c.join_timeout = c.timeout;
    if (o.Has("joinTimeoutMs") && !o.Get("joinTimeoutMs").IsUndefined())
      c.join_timeout = std::chrono::milliseconds(int64_t(require_count(o.Get("joinTimeoutMs"), "joinTimeoutMs")));
    auto store = std::make_shared<JsStore>(env, require_object(o.Get("store"), "store"), c.join_timeout);
    auto group = std::make_shared<std::shared_ptr<ProcessGroup>>();
    bool nccl = backend == "nccl";
    auto* task = new Task(Napi::Object::New(env), 1,
                          [c, store, group, nccl] { *group = nccl ? join_nccl(c, *store) : std::make_shared<GlooGroup>(c, *store); },
                          [group](Napi::Env e) { return ProcessGroupWrap::wrap(e, *group); },
                          [store] {});  // keeps the store (and its JS callbacks) alive until the join settles
    task->Queue();
    return Napi::Value(task->promise());
  });
}

std::shared_ptr<ProcessGroup> unwrap_process_group(const Napi::Value& v) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(ProcessGroupWrap::constructor.Value()))
    throw NativeError("INVALID_ARGUMENT", "expected a ProcessGroup from createProcessGroup()");
  return ProcessGroupWrap::Unwrap(v.As<Napi::Object>())->group();
}

void register_collectives(Napi::Env env, Napi::Object exports) {
  ProcessGroupWrap::define(env);
  exports.Set("createProcessGroup", Napi::Function::New(env, create_process_group, "createProcessGroup"));
}

}  // namespace rm
