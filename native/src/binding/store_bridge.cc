#include "store_bridge.h"

#include <future>
#include <memory>

#include "../core/common.h"

namespace rm {

struct JsStore::Request {
  std::function<Napi::Value(Napi::Env, Napi::Object)> invoke;
  Napi::ObjectReference* js;
  std::promise<std::vector<char>> result;
};

JsStore::JsStore(Napi::Env env, Napi::Object js, std::chrono::milliseconds timeout)
    : js_(Napi::Persistent(js)), timeout_(timeout) {
  tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "ringmaster-store", 0, 1);
  tsfn_.Unref(env);  // a pending rendezvous must not keep the process alive on its own
}

JsStore::~JsStore() { tsfn_.Release(); }

// Runs on the JS thread: calls the JS method and settles the request when its promise does.
static void start_request(Napi::Env env, Napi::Function, std::shared_ptr<void> holder) {
  auto* req = static_cast<JsStore::Request*>(holder.get());
  auto keep = holder;  // alive until the promise settles
  try {
    Napi::Value promise = req->invoke(env, req->js->Value());
    auto then = promise.As<Napi::Object>().Get("then").As<Napi::Function>();
    auto on_ok = Napi::Function::New(env, [keep, req](const Napi::CallbackInfo& info) {
      std::vector<char> bytes;
      if (info[0].IsBuffer()) {
        auto b = info[0].As<Napi::Buffer<char>>();
        bytes.assign(b.Data(), b.Data() + b.Length());
      }
      req->result.set_value(std::move(bytes));
    });
    auto on_error = Napi::Function::New(env, [keep, req](const Napi::CallbackInfo& info) {
      std::string message = info[0].IsObject() ? info[0].As<Napi::Object>().Get("message").ToString().Utf8Value()
                                               : info[0].ToString().Utf8Value();
      req->result.set_exception(std::make_exception_ptr(NativeError("RENDEZVOUS_FAILED", message)));
    });
    then.Call(promise, {on_ok, on_error});
  } catch (const std::exception& e) {
    req->result.set_exception(std::make_exception_ptr(NativeError("RENDEZVOUS_FAILED", e.what())));
  }
}

std::vector<char> JsStore::call(const std::string& what, std::function<Napi::Value(Napi::Env, Napi::Object)> invoke,
                                std::chrono::milliseconds timeout) {
  auto holder = std::shared_ptr<void>(new Request{std::move(invoke), &js_, {}}, [](void* p) { delete static_cast<Request*>(p); });
  auto future = static_cast<Request*>(holder.get())->result.get_future();
  napi_status status = tsfn_.BlockingCall(new std::shared_ptr<void>(holder), [](Napi::Env env, Napi::Function fn, std::shared_ptr<void>* h) {
    std::shared_ptr<void> owned = *h;
    delete h;
    start_request(env, fn, owned);
  });
  RM_CHECK(status == napi_ok, "RENDEZVOUS_FAILED", "store " + what + ": the JS side is gone");
  // The JS call carries its own timeout; this one only guards against a JS side that never answers.
  if (future.wait_for(timeout + std::chrono::seconds(5)) != std::future_status::ready)
    throw NativeError("RENDEZVOUS_TIMEOUT", "store " + what + ": no answer within " + std::to_string(timeout.count()) + " ms");
  return future.get();
}

void JsStore::set(const std::string& key, const std::vector<char>& data) {
  call("set " + key, [key, data](Napi::Env env, Napi::Object js) {
    return js.Get("set").As<Napi::Function>().Call(js, {Napi::String::New(env, key), Napi::Buffer<char>::Copy(env, data.data(), data.size())});
  }, timeout_);
}

std::vector<char> JsStore::get(const std::string& key) {
  // Gloo's get blocks until the key exists (as TCPStore's does): wait first, then read.
  wait({key}, timeout_);
  return call("get " + key, [key](Napi::Env env, Napi::Object js) {
    return js.Get("get").As<Napi::Function>().Call(js, {Napi::String::New(env, key)});
  }, timeout_);
}

void JsStore::wait(const std::vector<std::string>& keys) { wait(keys, timeout_); }

void JsStore::wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) {
  call("wait", [keys, timeout](Napi::Env env, Napi::Object js) {
    auto list = Napi::Array::New(env, keys.size());
    for (size_t i = 0; i < keys.size(); ++i) list.Set(uint32_t(i), keys[i]);
    return js.Get("wait").As<Napi::Function>().Call(js, {list, Napi::Number::New(env, double(timeout.count()))});
  }, timeout);
}

}  // namespace rm
