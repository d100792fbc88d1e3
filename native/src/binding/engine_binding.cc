// The JS class `Engine`: one rank's Trainer behind a small, flat, promise-based surface.
// TypeScript validates and defaults everything first (worker/native.ts); this layer converts
// arguments, refuses concurrent use, and runs the long calls off the event loop.
#include <omp.h>

#include <cmath>

#include "binding_util.h"
#include "engine_config.h"
#include "pg_binding.h"
#include "../train/trainer.h"

namespace rm {

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
                        InstanceMethod<&EngineWrap::join_process_group>("joinProcessGroup"),
                        InstanceMethod<&EngineWrap::generate>("generate"),
                        InstanceMethod<&EngineWrap::set_profiling>("setProfiling"),
                        InstanceMethod<&EngineWrap::profile>("profile")});
  }

  explicit EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
    guard(info.Env(), [&] {
      auto o = require_object(info[0], "config");
      size_t threads = require_count(o.Get("threads"), "threads");
      threads_ = threads == 0 ? omp_get_num_procs() : int(threads);
      omp_set_num_threads(threads_);  // primitive creation below may consult it
      auto config = parse_engine_config(o);
      max_accumulate_ = config.max_accumulate;
      trainer_ = std::make_unique<Trainer>(config);
    });
  }

 private:
  Model& model() { return trainer_->model(); }
  // forward and backward by hand hand host buffers to the model: the CPU engine's (its tests').
  void require_cpu(const char* method) {
    RM_CHECK(trainer_->device().kind() == DeviceKind::Cpu, "INVALID_ARGUMENT",
             std::string(method) + " by hand runs on the CPU; an engine on " + trainer_->device().name() + " trains with trainStep and evaluate");
  }
  Parameters& params() { return model().parameters(); }
  size_t per_sample() const { return trainer_->model().input().elements; }
  size_t outputs_per_sample() const { return trainer_->model().positions() * trainer_->model().classes(); }

  // Copies the first `samples` samples of a Float32Array (features) or Int32Array (tokens), as
  // the model's input() says, to dst; returns the array's length.
  size_t copy_input(const Napi::Value& v, size_t samples, void* dst) {
    ModelInput in = model().input();
    size_t n = samples * in.elements;
    const void* src;
    size_t length;
    if (in.dtype == DType::I32) {
      auto a = require_i32(v, n, "inputs (int32 tokens)");
      src = a.Data(), length = a.ElementLength();
    } else {
      auto a = require_f32(v, n, "inputs");
      src = a.Data(), length = a.ElementLength();
    }
    std::memcpy(dst, src, n * 4);
    return length;
  }

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

  // Copies the first `samples` inputs and their labels (positions() each) into the trainer's
  // micro-batch area.
  void load_samples(const Napi::CallbackInfo& info, size_t samples) {
    copy_input(info[0], samples, trainer_->inputs());
    size_t labels = samples * model().positions();
    auto y = require_i32(info[1], labels, "labels");
    std::memcpy(trainer_->labels(), y.Data(), labels * sizeof(int32_t));
  }

  size_t require_batch(const Napi::Value& v) {
    size_t B = require_count(v, "batch");
    RM_CHECK(B >= 1 && B <= model().max_batch(), "INVALID_ARGUMENT",
             "batch " + std::to_string(B) + " is outside [1, " + std::to_string(model().max_batch()) + "]");
    return B;
  }

  Napi::Value param_count(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(params().count()));
  }
  Napi::Value output_size(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(outputs_per_sample()));
  }

  Napi::Value bf16_kernels(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), model().bf16_kernels());
  }

  Napi::Value named_params(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto& list = params().list();
    auto out = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      auto o = Napi::Object::New(env);
      auto shape = Napi::Array::New(env, list[i].shape.size());
      for (size_t d = 0; d < list[i].shape.size(); ++d) shape.Set(uint32_t(d), double(list[i].shape[d]));
      o.Set("name", list[i].name);
      o.Set("shape", shape);
      o.Set("offset", double(list[i].offset));
      o.Set("count", double(list[i].count));
      o.Set("decay", list[i].decay);
      out.Set(uint32_t(i), o);
    }
    return out;
  }

  // A flat buffer of the model's device (one parameter count long) as a JS array, and back.
  Napi::Float32Array read_flat(Napi::Env env, const float* src) {
    size_t n = params().count();
    if (trainer_->device().kind() == DeviceKind::Cpu) return copy_to_js(env, src, n);
    auto out = Napi::Float32Array::New(env, n);
    trainer_->device().copy_to_host(out.Data(), src, n * sizeof(float));
    return out;
  }

  Napi::Value get_params(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    return read_flat(info.Env(), params().values());
  }
  Napi::Value get_grads(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    return read_flat(info.Env(), params().grads());
  }
  void set_params(const Napi::CallbackInfo& info, const Napi::Value& v) {
    set_flat(info, v, params().values());
    trainer_->parameters_changed();
  }
  Napi::Value set_params(const Napi::CallbackInfo& info) { set_params(info, info[0]); return info.Env().Undefined(); }
  Napi::Value set_grads(const Napi::CallbackInfo& info) { set_flat(info, info[0], params().grads()); return info.Env().Undefined(); }

  // getState() → { params, moments: Float32Array[], optimizerSteps, lossScale: { scale,
  // goodSteps, skipped } }: what a checkpoint holds.
  // Data parallel, the moments are whole on rank 0 (see Trainer::join_process_group).
  Napi::Value get_state(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    Napi::Env env = info.Env();
    auto& opt = trainer_->optimizer();
    auto moments = Napi::Array::New(env, opt.moment_count());
    for (size_t i = 0; i < opt.moment_count(); ++i) moments.Set(uint32_t(i), read_flat(env, opt.moment(i)));
    auto o = Napi::Object::New(env);
    o.Set("params", read_flat(env, params().values()));
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
      set_flat(info, o.Get("params"), params().values());
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
      size_t n = params().count();
      auto a = require_f32(v, n, "values");
      RM_CHECK(a.ElementLength() == n, "INVALID_ARGUMENT", "values must hold exactly " + std::to_string(n) + " floats");
      trainer_->device().copy_from_host(dst, a.Data(), n * sizeof(float));
    });
  }

  // forward(inputs, batch) → Promise<Float32Array outputs[batch × outputSize]>
  Napi::Value forward(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    size_t B = guard(info.Env(), [&] {
      require_cpu("forward");
      size_t b = require_batch(info[1]);
      copy_input(info[0], b, trainer_->inputs());
      return b;
    });
    auto logits = std::make_shared<ConstView>();
    return run(info, [this, B, logits] { *logits = model().forward(trainer_->inputs(), B); },
               [this, B, logits](Napi::Env env) { return copy_to_js(env, *logits, B * outputs_per_sample()); });
  }

  // backward(dout, { accumulate, inputGrad }) → Promise<Float32Array | null>: parameter gradients
  // land in the engine; the input gradient is returned when asked for.
  Napi::Value backward(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    return guard(info.Env(), [&] {
      require_cpu("backward");
      auto opts = require_object(info[1], "options");
      bool accumulate = opts.Get("accumulate").ToBoolean();
      bool input_grad = opts.Get("inputGrad").ToBoolean();
      // The batch is that of the last forward (none yet: the model's backward rejects with STATE).
      size_t B = model().last_batch();
      auto dout = require_f32(info[0], B * outputs_per_sample(), "dout");
      RM_CHECK(B == 0 || dout.ElementLength() == B * outputs_per_sample(), "INVALID_ARGUMENT",
               "dout must hold exactly the last forward's batch × outputSize = " +
                   std::to_string(B * outputs_per_sample()) + " floats");
      auto dout_copy = std::make_shared<FloatBuffer>(dout.ElementLength());
      std::memcpy(dout_copy->data(), dout.Data(), dout.ElementLength() * sizeof(float));
      auto din = std::make_shared<FloatBuffer>(input_grad ? B * per_sample() : 0);
      return run(info, [this, dout_copy, din, accumulate, input_grad] {
        BackwardOptions o;
        o.accumulate = accumulate;
        o.dinput = input_grad ? din->data() : nullptr;
        model().backward(dout_copy->data(), o);  // fp32 as given, whatever type the model's logits are
      }, [din, input_grad](Napi::Env env) -> Napi::Value {
        if (!input_grad) return env.Null();
        return copy_to_js(env, din->data(), din->size());
      });
    });
  }

  // trainStep(inputs, labels, batch, lr, clipNorm, stopVote?) → Promise<{ loss, gradNorm, timings,
  // gradientAllReduces, factorExchanges, …, stop }>: one optimizer step over the K =
  // inputs.length / (batch × input size) micro-batches the inputs hold.
  Napi::Value train_step(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    return guard(info.Env(), [&] {
      size_t B = require_batch(info[2]);
      size_t row = per_sample();
      size_t K = info[0].IsTypedArray() ? info[0].As<Napi::TypedArray>().ElementLength() / (B * row) : 0;
      RM_CHECK(K >= 1 && K <= max_accumulate_, "INVALID_ARGUMENT",
               "inputs hold " + std::to_string(K) + " micro-batches of " + std::to_string(B) + "; this engine takes 1 to " + std::to_string(max_accumulate_));
      load_samples(info, K * B);
      float lr = float(require_number(info[3], "lr"));
      float clip = float(require_number(info[4], "clipNorm"));
      bool stop_vote = info.Length() > 5 && info[5].ToBoolean();
      auto result = std::make_shared<StepResult>();
      return run(info, [this, result, B, K, lr, clip, stop_vote] { *result = trainer_->train_step(B, K, lr, clip, stop_vote); },
                 [result](Napi::Env env) {
                   auto o = Napi::Object::New(env);
                   o.Set("loss", result->loss);
                   o.Set("gradientAllReduces", double(result->gradient_all_reduces));
                   o.Set("factorExchanges", double(result->factor_exchanges));
                   o.Set("wireBytes", double(result->wire_bytes));
                   o.Set("lossScale", result->loss_scale);
                   o.Set("skipped", result->skipped);
                   o.Set("stop", result->stop);
                   o.Set("gradNorm", std::isnan(result->grad_norm) ? env.Null() : Napi::Number::New(env, result->grad_norm));
                   auto t = Napi::Object::New(env);
                   t.Set("computeMs", 1e3 * result->compute_s);
                   t.Set("communicateMs", 1e3 * result->communicate_s);
                   t.Set("optimizeMs", 1e3 * result->optimize_s);
                   t.Set("pipelineWaitMs", 1e3 * result->pipeline_wait_s);
                   o.Set("timings", t);
                   return Napi::Value(o);
                 });
    });
  }

  // evaluate(inputs, labels, batch) → Promise<{ lossSum, correct }>
  Napi::Value evaluate(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    return guard(info.Env(), [&] {
      size_t B = require_batch(info[2]);
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

  // generate({ prompt: Int32Array, tokens, temperature, topK, seed }) → Promise<Int32Array>: a
  // GPT's continuation of the prompt (see Gpt::generate).
  Napi::Value generate(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    return guard(info.Env(), [&] {
      auto* gpt = dynamic_cast<Gpt*>(&model());
      RM_CHECK(gpt != nullptr, "INVALID_ARGUMENT", "only a GPT generates text");
      auto o = require_object(info[0], "options");
      auto prompt = require_i32(o.Get("prompt"), 1, "prompt");
      auto tokens = std::make_shared<std::vector<int32_t>>(prompt.Data(), prompt.Data() + prompt.ElementLength());
      size_t count = require_count(o.Get("tokens"), "tokens");
      float temperature = float(require_number(o.Get("temperature"), "temperature"));
      size_t top_k = require_count(o.Get("topK"), "topK");
      uint64_t seed = uint64_t(require_count(o.Get("seed"), "seed"));
      return run(info, [gpt, tokens, count, temperature, top_k, seed] { *tokens = gpt->generate(*tokens, count, temperature, top_k, seed); },
                 [tokens](Napi::Env env) {
                   auto out = Napi::Int32Array::New(env, tokens->size());
                   std::copy(tokens->begin(), tokens->end(), out.Data());
                   return Napi::Value(out);
                 });
    });
  }

  Napi::Value set_profiling(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    trainer_->set_profiling(info[0].ToBoolean());
    return info.Env().Undefined();
  }

  // profile() → [{ name, forwardMs, backwardMs, forwardFlops, backwardFlops, calls, activationBytes }]
  // since setProfiling(true), in the order the modules first ran.
  Napi::Value profile(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    Napi::Env env = info.Env();
    const auto& entries = trainer_->profiler().entries();
    auto out = Napi::Array::New(env, entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
      const auto& e = entries[i];
      auto o = Napi::Object::New(env);
      o.Set("name", e.name);
      o.Set("forwardMs", 1e3 * e.forward_s);
      o.Set("backwardMs", 1e3 * e.backward_s);
      o.Set("forwardFlops", e.forward_flops);
      o.Set("backwardFlops", e.backward_flops);
      o.Set("calls", double(e.calls));
      o.Set("activationBytes", double(e.activation_bytes));
      out.Set(uint32_t(i), o);
    }
    return out;
  }

  std::unique_ptr<Trainer> trainer_;
  size_t max_accumulate_ = 1;
  int threads_ = 1;
  bool busy_ = false;
};

Napi::Function define_engine_class(Napi::Env env) { return EngineWrap::define(env); }

}  // namespace rm
