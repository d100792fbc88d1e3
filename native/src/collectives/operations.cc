#include "operations.h"

#include <map>
#include <mutex>

namespace rm {

namespace {

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

// By id, which grows with time: the first entry is the oldest.
std::map<uint64_t, std::string>& registry() {
  static std::map<uint64_t, std::string> r;
  return r;
}

uint64_t next_id = 0;

}  // namespace

OperationScope::OperationScope(const std::string& name) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  id_ = next_id++;
  registry().emplace(id_, name);
}

OperationScope::~OperationScope() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().erase(id_);
}

std::string oldest_operation() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  if (registry().empty()) return "";
  return registry().begin()->second;
}

}  // namespace rm
