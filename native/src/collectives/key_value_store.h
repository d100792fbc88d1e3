// The rendezvous store a process group's ranks meet through (the coordinator's, one scope per job
// attempt), as the groups that are not Gloo's see it: set a key, and get one, waiting for it.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace rm {

class KeyValueStore {
 public:
  virtual ~KeyValueStore() = default;
  virtual void set(const std::string& key, const std::vector<char>& value) = 0;
  // The value, once some rank has set it; COLLECTIVE_TIMEOUT naming the key after `timeout`.
  virtual std::vector<char> get(const std::string& key, std::chrono::milliseconds timeout) = 0;
};

}  // namespace rm
