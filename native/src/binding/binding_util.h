// Helpers for the thin N-API layer: typed JS errors, argument conversion, and Task, which runs
// a piece of native work off the event loop and settles a promise with its result.
#pragma once

#include <napi.h>

#include <functional>
#include <string>

#include "../core/common.h"
#include "../core/view.h"

namespace rm {

// A JS Error whose `code` is the native code (e.g. "INVALID_ARGUMENT"), named NativeError.
Napi::Error js_error(Napi::Env env, const std::string& code, const std::string& message, const std::vector<int>& missing_ranks = {});

// Runs f, turning any C++ exception into a thrown JS error with a code.
template <class F>
auto guard(Napi::Env env, F&& f) -> decltype(f()) {
  std::string code, message;
  std::vector<int> missing_ranks;
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const NativeError& e) {
    code = e.code(), message = e.what(), missing_ranks = e.missing_ranks();
  } catch (const std::exception& e) {
    code = "INTERNAL", message = e.what();
  }
  throw js_error(env, code, message, missing_ranks);
}

// Argument readers that throw INVALID_ARGUMENT naming the argument.
const Napi::Object& require_object(const Napi::Value& v, const char* what);
double require_number(const Napi::Value& v, const char* what);
size_t require_count(const Napi::Value& v, const char* what);  // non-negative integer
Napi::Float32Array require_f32(const Napi::Value& v, size_t min_length, const char* what);
Napi::Int32Array require_i32(const Napi::Value& v, size_t min_length, const char* what);
Napi::Float32Array copy_to_js(Napi::Env env, const float* data, size_t n);
// n host activations (fp32, or bf16 encodings) as a Float32Array.
Napi::Float32Array copy_to_js(Napi::Env env, ConstView data, size_t n);

// Native work on a libuv thread. `work` runs there with `threads` compute threads and must not
// touch JS; `done` runs back on the JS thread and builds the resolved value. Exceptions from
// `work` reject the promise with a coded error. `finally` runs on the JS thread either way.
class Task : public Napi::AsyncWorker {
 public:
  Task(Napi::Object owner, int threads, std::function<void()> work,
       std::function<Napi::Value(Napi::Env)> done, std::function<void()> finally);
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override;
  void OnOK() override;

 private:
  Napi::ObjectReference owner_;  // keeps the owning JS object alive while the work runs
  Napi::Promise::Deferred deferred_;
  int threads_;
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env)> done_;
  std::function<void()> finally_;
  std::string error_code_, error_message_;
  std::vector<int> error_missing_ranks_;
};

}  // namespace rm
