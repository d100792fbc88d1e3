#include "binding_util.h"

#include "../core/parallel.h"
#include "../precision/bf16_convert.h"


#include <cmath>
#include <oneapi/dnnl/dnnl.hpp>

namespace rm {

Napi::Error js_error(Napi::Env env, const std::string& code, const std::string& message, const std::vector<int>& missing_ranks) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  e.Set("name", Napi::String::New(env, "NativeError"));
  if (!missing_ranks.empty()) {
    Napi::Array ranks = Napi::Array::New(env, missing_ranks.size());
    for (size_t i = 0; i < missing_ranks.size(); ++i) ranks.Set(uint32_t(i), Napi::Number::New(env, missing_ranks[i]));
    e.Set("missingRanks", ranks);
  }
  return e;
}

static NativeError bad(const char* what, const std::string& expected) {
  return NativeError("INVALID_ARGUMENT", std::string(what) + " must be " + expected);
}

const Napi::Object& require_object(const Napi::Value& v, const char* what) {
  if (!v.IsObject()) throw bad(what, "an object");
  return static_cast<const Napi::Object&>(v);
}

double require_number(const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) throw bad(what, "a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) throw bad(what, "finite");
  return d;
}

size_t require_count(const Napi::Value& v, const char* what) {
  double d = require_number(v, what);
  if (d < 0 || d != std::floor(d) || d > 9007199254740991.0) throw bad(what, "a non-negative integer");
  return size_t(d);
}

Napi::Float32Array require_f32(const Napi::Value& v, size_t min_length, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw bad(what, "a Float32Array");
  auto a = v.As<Napi::Float32Array>();
  if (a.ElementLength() < min_length) throw bad(what, "at least " + std::to_string(min_length) + " floats long");
  return a;
}

Napi::Int32Array require_i32(const Napi::Value& v, size_t min_length, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw bad(what, "an Int32Array");
  auto a = v.As<Napi::Int32Array>();
  if (a.ElementLength() < min_length) throw bad(what, "at least " + std::to_string(min_length) + " ints long");
  return a;
}

Napi::Float32Array copy_to_js(Napi::Env env, const float* data, size_t n) {
  auto a = Napi::Float32Array::New(env, n);
  std::memcpy(a.Data(), data, n * sizeof(float));
  return a;
}

Napi::Float32Array copy_to_js(Napi::Env env, ConstView data, size_t n) {
  if (data.is_f32()) return copy_to_js(env, data.f32(), n);
  auto a = Napi::Float32Array::New(env, n);
  bf16_widen(a.Data(), data.bf16(), n);
  return a;
}

Task::Task(Napi::Object owner, int threads, std::function<void()> work,
           std::function<Napi::Value(Napi::Env)> done, std::function<void()> finally)
    : Napi::AsyncWorker(owner.Env(), "ringmaster"),
      owner_(Napi::Persistent(owner)),
      deferred_(Napi::Promise::Deferred::New(owner.Env())),
      threads_(threads),
      work_(std::move(work)),
      done_(std::move(done)),
      finally_(std::move(finally)) {}

void Task::Execute() {
  enter_compute_threads(threads_);  // per calling thread: set on every task, whichever pool thread runs it
  try {
    work_();
  } catch (const NativeError& e) {
    error_code_ = e.code(), error_message_ = e.what(), error_missing_ranks_ = e.missing_ranks();
  } catch (const dnnl::error& e) {
    error_code_ = "DNNL", error_message_ = std::string("oneDNN: ") + e.what();
  } catch (const std::bad_alloc&) {
    error_code_ = "OUT_OF_MEMORY", error_message_ = "out of memory";
  } catch (const std::exception& e) {
    error_code_ = "INTERNAL", error_message_ = e.what();
  }
}

void Task::OnOK() {
  Napi::Env env = Env();
  finally_();
  if (!error_code_.empty()) {
    deferred_.Reject(js_error(env, error_code_, error_message_, error_missing_ranks_).Value());
    return;
  }
  try {
    deferred_.Resolve(done_(env));
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  }
}

}  // namespace rm
