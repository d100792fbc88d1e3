// A Gloo rendezvous store whose calls are served by JavaScript: the rank's TypeScript side
// forwards them to the coordinator's rendezvous service. Gloo calls the store from the thread
// that connects the group (never the JS thread); each call hops to the JS thread through a
// thread-safe function and blocks, with a timeout, until the JS promise settles.
#pragma once

#include <gloo/rendezvous/store.h>
#include <napi.h>

#include <chrono>
#include <string>
#include <vector>

namespace rm {

class JsStore : public gloo::rendezvous::Store {
 public:
  // `js` has set(key, Buffer): Promise<void>, get(key): Promise<Buffer>,
  // wait(keys: string[], timeoutMs: number): Promise<void>. Construct on the JS thread.
  JsStore(Napi::Env env, Napi::Object js, std::chrono::milliseconds timeout);
  ~JsStore() override;  // releases the thread-safe function; destroy on the JS thread

  void set(const std::string& key, const std::vector<char>& data) override;
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override;

  struct Request;  // one call in flight between a Gloo thread and the JS thread

 private:
  std::vector<char> call(const std::string& what, std::function<Napi::Value(Napi::Env, Napi::Object)> invoke,
                         std::chrono::milliseconds timeout);

  Napi::ObjectReference js_;
  Napi::ThreadSafeFunction tsfn_;
  std::chrono::milliseconds timeout_;
};

}  // namespace rm
