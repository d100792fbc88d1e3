// The JS class `Engine`: one rank's Trainer behind a small, flat, promise-based surface.
// TypeScript validates and defaults everything first (worker/native.ts); this layer converts
// arguments, refuses concurrent use, and runs the long calls off the event loop.
#include <omp.h>

#include <cmath>

#include "binding_util.h"
#include "collectives/pg_binding.h"
#include "trainer.h"

namespace rm {

static Impl parse_impl(const Napi::Object& o) {
  std::string impl = o.Get("impl").As<Napi::String>().Utf8Value();
  RM_CHECK(impl == "fast" || impl == "reference", "INVALID_ARGUMENT", "impl must be \"fast\" or \"reference\"");
  return impl == "fast" ? Impl::Fast : Impl::Reference;
}

static OptimizerConfig parse_optimizer(const Napi::Object& o) {
  OptimizerConfig c;
  c.kind = o.Get("kind").As<Napi::String>().Utf8Value();
  c.beta1 = float(require_number(o.Get("beta1"), "optimizer.beta1"));
  c.beta2 = float(require_number(o.Get("beta2"), "optimizer.beta2"));
  c.eps = float(require_number(o.Get("eps"), "optimizer.eps"));
  c.weight_decay = float(require_number(o.Get("weightDecay"), "optimizer.weightDecay"));
  c.momentum = float(require_number(o.Get("momentum"), "optimizer.momentum"));
  c.nesterov = o.Get("nesterov").ToBoolean();
  return c;
}

static TrainerConfig parse_config(const Napi::Object& o) {
  TrainerConfig c;
  auto input = o.Get("input").As<Napi::Array>();
  RM_CHECK(input.Length() == 3, "INVALID_ARGUMENT", "input must be [channels, height, width]");
  c.input = {require_count(input.Get(0u), "input[0]"), require_count(input.Get(1u), "input[1]"),
             require_count(input.Get(2u), "input[2]")};
  auto layers = o.Get("layers").As<Napi::Array>();
  for (uint32_t i = 0; i < layers.Length(); ++i) {
    auto l = require_object(layers.Get(i), "layers[i]");
    LayerConfig lc{l.Get("kind").As<Napi::String>().Utf8Value(), 0};
    if (l.Has("out")) lc.out = require_count(l.Get("out"), "layers[i].out");
    c.layers.push_back(lc);
  }
  c.max_batch = require_count(o.Get("maxBatch"), "maxBatch");
  if (o.Has("maxAccumulate")) c.max_accumulate = std::max<size_t>(1, require_count(o.Get("maxAccumulate"), "maxAccumulate"));
  c.impl = parse_impl(o);
  c.optimizer = parse_optimizer(require_object(o.Get("optimizer"), "optimizer"));
  c.seed = uint64_t(require_count(o.Get("seed"), "seed"));
  if (o.Has("precision")) c.precision = parse_precision(o.Get("precision").ToString().Utf8Value());
  if (o.Has("bf16Kernels") && !o.Get("bf16Kernels").IsUndefined()) {
    std::string k = o.Get("bf16Kernels").ToString().Utf8Value();
    RM_CHECK(k == "auto" || k == "on" || k == "off", "INVALID_ARGUMENT", "bf16Kernels must be \"auto\", \"on\" or \"off\"");
    using K = TrainerConfig::Bf16Kernels;
    c.bf16_kernels = k == "on" ? K::On : k == "off" ? K::Off : K::Auto;
  }
  if (o.Has("gradientWire")) c.gradient_wire = parse_precision(o.Get("gradientWire").ToString().Utf8Value());
  if (o.Has("lossScale") && o.Get("lossScale").IsObject()) {
    auto l = o.Get("lossScale").As<Napi::Object>();
    c.loss_scale.enabled = true;
    c.loss_scale.dynamic = l.Get("dynamic").ToBoolean();
    c.loss_scale.init = float(require_number(l.Get("init"), "lossScale.init"));
    c.loss_scale.growth_interval = require_count(l.Get("growthInterval"), "lossScale.growthInterval");
    c.loss_scale.min_scale = float(require_number(l.Get("minScale"), "lossScale.minScale"));
  }
  if (o.Has("sufficientFactors")) c.sufficient_factors = o.Get("sufficientFactors").ToBoolean();
  if (o.Has("bucketBytes")) c.bucket_floats = std::max<size_t>(1, require_count(o.Get("bucketBytes"), "bucketBytes") / sizeof(float));
  return c;
}

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Engine",
                       {InstanceAccessor<&EngineWrap::param_count>("paramCount"),
                        InstanceAccessor<&EngineWrap::output_size>("outputSize"),
                        InstanceAccessor<&EngineWrap::bf16_kernels>("bf16Kernels"),
                        InstanceMethod<&EngineWrap::named_params>("namedParams"),
                        InstanceMethod<&EngineWrap::get_params>("getParams"),
                        InstanceMethod<&EngineWrap::set_params>("setParams"),
                        InstanceMethod<&EngineWrap::get_state>("getState"),
                        InstanceMethod<&EngineWrap::set_state>("setState"),
                        InstanceMethod<&EngineWrap::get_grads>("getGrads"),
                        InstanceMethod<&EngineWrap::set_grads>("setGrads"),
                        InstanceMethod<&EngineWrap::forward>("forward"),
                        InstanceMethod<&EngineWrap::backward>("backward"),
                        InstanceMethod<&EngineWrap::train_step>("trainStep"),
                        InstanceMethod<&EngineWrap::evaluate>("evaluate"),
                        InstanceMethod<&EngineWrap::optimizer_step>("optimizerStep"),
                        InstanceMethod<&EngineWrap::join_process_group>("joinProcessGroup")});
  }

  explicit EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
    guard(info.Env(), [&] {
      auto o = require_object(info[0], "config");
      size_t threads = require_count(o.Get("threads"), "threads");
      threads_ = threads == 0 ? omp_get_num_procs() : int(threads);
      omp_set_num_threads(threads_);  // primitive creation below may consult it
      auto config = parse_config(o);
      max_accumulate_ = config.max_accumulate;
      trainer_ = std::make_unique<Trainer>(config);
    });
  }

 private:
  Net& net() { return trainer_->net(); }

  // Refuses a call while an asynchronous one is running: both would share the engine's buffers.
  void check_idle(Napi::Env env) {
    if (busy_) throw js_error(env, "BUSY", "the engine is running another call; await it first");
  }

  // Starts `work` off the event loop, marking the engine busy until it settles.
  Napi::Value run(const Napi::CallbackInfo& info, std::function<void()> work,
                  std::function<Napi::Value(Napi::Env)> done) {
    busy_ = true;
    auto* task = new Task(info.This().As<Napi::Object>(), threads_, std::move(work), std::move(done),
                          [this] { busy_ = false; });
    task->Queue();
    return task->promise();
  }

  // Copies the batch's inputs into the network's input; returns the batch size.
  size_t load_batch(const Napi::CallbackInfo& info) {
    size_t B = require_count(info[1], "batch");
    RM_CHECK(B >= 1 && B <= net().max_batch(), "INVALID_ARGUMENT",
             "batch " + std::to_string(B) + " is outside [1, " + std::to_string(net().max_batch()) + "]");
    auto x = require_f32(info[0], B * net().input_size(), "inputs");
    std::memcpy(net().input(), x.Data(), B * net().input_size() * sizeof(float));
    return B;
  }

  // Copies the first `samples` inputs and labels into the trainer's micro-batch area.
  void load_samples(const Napi::CallbackInfo& info, size_t samples) {
    size_t row = net().input_size();
    auto x = require_f32(info[0], samples * row, "inputs");
    auto y = require_i32(info[1], samples, "labels");
    std::memcpy(trainer_->inputs(), x.Data(), samples * row * sizeof(float));
    std::memcpy(trainer_->labels(), y.Data(), samples * sizeof(int32_t));
  }

  size_t require_batch(const Napi::CallbackInfo& info) {
    size_t B = require_count(info[2], "batch");
    RM_CHECK(B >= 1 && B <= net().max_batch(), "INVALID_ARGUMENT",
             "batch " + std::to_string(B) + " is outside [1, " + std::to_string(net().max_batch()) + "]");
    return B;
  }

  Napi::Value param_count(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(net().param_count()));
  }
  Napi::Value output_size(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(net().output_size()));
  }

  Napi::Value bf16_kernels(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), net().bf16_kernels());
  }

  Napi::Value named_params(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto list = net().named_params();
    auto out = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      auto o = Napi::Object::New(env);
      auto shape = Napi::Array::New(env, list[i].shape.size());
      for (size_t d = 0; d < list[i].shape.size(); ++d) shape.Set(uint32_t(d), double(list[i].shape[d]));
      o.Set("name", list[i].name);
      o.Set("shape", shape);
      o.Set("offset", double(list[i].offset));
      o.Set("count", double(list[i].count));
      out.Set(uint32_t(i), o);
    }
    return out;
  }

  Napi::Value get_params(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    return copy_to_js(info.Env(), net().params(), net().param_count());
  }
  Napi::Value get_grads(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    return copy_to_js(info.Env(), net().grads(), net().param_count());
  }
  void set_params(const Napi::CallbackInfo& info, const Napi::Value& v) {
    set_flat(info, v, net().params());
    trainer_->parameters_changed();
  }
  Napi::Value set_params(const Napi::CallbackInfo& info) { set_params(info, info[0]); return info.Env().Undefined(); }
  Napi::Value set_grads(const Napi::CallbackInfo& info) { set_flat(info, info[0], net().grads()); return info.Env().Undefined(); }

  // getState() → { params, moments: Float32Array[], optimizerSteps, lossScale: { scale,
  // goodSteps, skipped } }: what a checkpoint holds.
  // Data parallel, the moments are whole on rank 0 (see Trainer::join_process_group).
  Napi::Value get_state(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    Napi::Env env = info.Env();
    auto& opt = trainer_->optimizer();
    auto moments = Napi::Array::New(env, opt.moment_count());
    for (size_t i = 0; i < opt.moment_count(); ++i) moments.Set(uint32_t(i), copy_to_js(env, opt.moment(i), net().param_count()));
    auto o = Napi::Object::New(env);
    o.Set("params", copy_to_js(env, net().params(), net().param_count()));
    o.Set("moments", moments);
    o.Set("optimizerSteps", double(opt.steps_taken()));
    auto& scaler = trainer_->loss_scaler();
    auto l = Napi::Object::New(env);
    l.Set("scale", scaler.scale());
    l.Set("goodSteps", double(scaler.good_steps()));
    l.Set("skipped", double(scaler.skipped()));
    o.Set("lossScale", l);
    return o;
  }

  // setState(state as getState gives it): restores a checkpoint, before joinProcessGroup.
  Napi::Value set_state(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    guard(info.Env(), [&] {
      RM_CHECK(!trainer_->joined(), "STATE", "setState must come before joinProcessGroup");
      auto o = require_object(info[0], "state");
      auto& opt = trainer_->optimizer();
      auto moments = o.Get("moments");
      RM_CHECK(moments.IsArray() && moments.As<Napi::Array>().Length() == opt.moment_count(), "INVALID_ARGUMENT",
               "state.moments must hold " + std::to_string(opt.moment_count()) + " arrays for this optimizer");
      set_flat(info, o.Get("params"), net().params());
      for (size_t i = 0; i < opt.moment_count(); ++i) set_flat(info, moments.As<Napi::Array>().Get(uint32_t(i)), opt.moment(i));
      opt.set_steps_taken(require_count(o.Get("optimizerSteps"), "state.optimizerSteps"));
      trainer_->parameters_changed();
      auto l = require_object(o.Get("lossScale"), "state.lossScale");
      trainer_->loss_scaler().restore(float(require_number(l.Get("scale"), "state.lossScale.scale")),
                                      require_count(l.Get("goodSteps"), "state.lossScale.goodSteps"),
                                      require_count(l.Get("skipped"), "state.lossScale.skipped"));
    });
    return info.Env().Undefined();
  }

  void set_flat(const Napi::CallbackInfo& info, const Napi::Value& v, float* dst) {
    check_idle(info.Env());
    guard(info.Env(), [&] {
      auto a = require_f32(v, net().param_count(), "values");
      RM_CHECK(a.ElementLength() == net().param_count(), "INVALID_ARGUMENT",
               "values must hold exactly " + std::to_string(net().param_count()) + " floats");
      std::memcpy(dst, a.Data(), net().param_count() * sizeof(float));
    });
  }

  // forward(inputs, batch) → Promise<Float32Array outputs[batch × outputSize]>
  Napi::Value forward(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    size_t B = guard(info.Env(), [&] { return load_batch(info); });
    return run(info, [this, B] { net().forward(B); },
               [this, B](Napi::Env env) { return copy_to_js(env, net().output(), B * net().output_size()); });
  }

  // backward(dout, { accumulate, inputGrad }) → Promise<Float32Array | null>: parameter gradients
  // land in the engine; the input gradient is returned when asked for.
  Napi::Value backward(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    return guard(info.Env(), [&] {
      auto opts = require_object(info[1], "options");
      bool accumulate = opts.Get("accumulate").ToBoolean();
      bool input_grad = opts.Get("inputGrad").ToBoolean();
      // The batch is that of the last forward (none yet: Net::backward rejects with STATE).
      size_t B = net().last_batch();
      auto dout = require_f32(info[0], B * net().output_size(), "dout");
      RM_CHECK(B == 0 || dout.ElementLength() == B * net().output_size(), "INVALID_ARGUMENT",
               "dout must hold exactly the last forward's batch × outputSize = " +
                   std::to_string(B * net().output_size()) + " floats");
      auto dout_copy = std::make_shared<FloatBuffer>(dout.ElementLength());
      std::memcpy(dout_copy->data(), dout.Data(), dout.ElementLength() * sizeof(float));
      auto din = std::make_shared<FloatBuffer>(input_grad ? B * net().input_size() : 0);
      return run(info, [this, dout_copy, din, accumulate, input_grad] {
        net().backward(dout_copy->data(), input_grad ? din->data() : nullptr, accumulate);
      }, [din, input_grad](Napi::Env env) -> Napi::Value {
        if (!input_grad) return env.Null();
        return copy_to_js(env, din->data(), din->size());
      });
    });
  }

  // trainStep(inputs, labels, batch, lr, clipNorm) → Promise<{ loss, gradNorm, timings,
  // gradientAllReduces, factorExchanges }>: one optimizer step over the K = inputs.length / (batch × input size)
  // micro-batches the inputs hold.
  Napi::Value train_step(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    return guard(info.Env(), [&] {
      size_t B = require_batch(info);
      size_t row = net().input_size();
      size_t K = require_f32(info[0], B * row, "inputs").ElementLength() / (B * row);
      RM_CHECK(K >= 1 && K <= max_accumulate_, "INVALID_ARGUMENT",
               "inputs hold " + std::to_string(K) + " micro-batches of " + std::to_string(B) + "; this engine takes 1 to " + std::to_string(max_accumulate_));
      load_samples(info, K * B);
      float lr = float(require_number(info[3], "lr"));
      float clip = float(require_number(info[4], "clipNorm"));
      auto result = std::make_shared<StepResult>();
      return run(info, [this, result, B, K, lr, clip] { *result = trainer_->train_step(B, K, lr, clip); },
                 [result](Napi::Env env) {
                   auto o = Napi::Object::New(env);
                   o.Set("loss", result->loss);
                   o.Set("gradientAllReduces", double(result->gradient_all_reduces));
                   o.Set("factorExchanges", double(result->factor_exchanges));
                   o.Set("lossScale", result->loss_scale);
                   o.Set("skipped", result->skipped);
                   o.Set("gradNorm", std::isnan(result->grad_norm) ? env.Null() : Napi::Number::New(env, result->grad_norm));
                   auto t = Napi::Object::New(env);
                   t.Set("computeMs", 1e3 * result->compute_s);
                   t.Set("communicateMs", 1e3 * result->communicate_s);
                   t.Set("optimizeMs", 1e3 * result->optimize_s);
                   o.Set("timings", t);
                   return Napi::Value(o);
                 });
    });
  }

  // evaluate(inputs, labels, batch) → Promise<{ lossSum, correct }>
  Napi::Value evaluate(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    return guard(info.Env(), [&] {
      size_t B = require_batch(info);
      load_samples(info, B);
      auto result = std::make_shared<CrossEntropyResult>();
      return run(info, [this, result, B] { *result = trainer_->evaluate(B); }, [result](Napi::Env env) {
        auto o = Napi::Object::New(env);
        o.Set("lossSum", result->loss_sum);
        o.Set("correct", double(result->correct));
        return Napi::Value(o);
      });
    });
  }

  // optimizerStep(lr, clipNorm) → Promise<{ gradNorm }>: updates from the current gradients.
  Napi::Value optimizer_step(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    return guard(info.Env(), [&] {
      float lr = float(require_number(info[0], "lr"));
      float clip = float(require_number(info[1], "clipNorm"));
      auto norm = std::make_shared<double>(0.0);
      return run(info, [this, norm, lr, clip] { *norm = trainer_->optimizer_step(lr, clip); },
                 [norm](Napi::Env env) {
                   auto o = Napi::Object::New(env);
                   o.Set("gradNorm", std::isnan(*norm) ? env.Null() : Napi::Number::New(env, *norm));
                   return Napi::Value(o);
                 });
    });
  }

  // joinProcessGroup(group) → Promise<void>: data parallel from now on (see Trainer).
  Napi::Value join_process_group(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    return guard(info.Env(), [&] {
      auto group = unwrap_process_group(info[0]);
      return run(info, [this, group] { trainer_->join_process_group(group); }, [](Napi::Env env) { return env.Undefined(); });
    });
  }

  std::unique_ptr<Trainer> trainer_;
  size_t max_accumulate_ = 1;
  int threads_ = 1;
  bool busy_ = false;
};

Napi::Function define_engine_class(Napi::Env env) { return EngineWrap::define(env); }

}  // namespace rm
