// The communication operations in flight in this process, for a rank's liveness reports: when a
// rank makes no progress, the one it has waited in longest (a collective or a transfer, with its
// sequence number) is the likeliest place it is stuck.
#pragma once

#include <cstdint>
#include <string>

namespace rm {

// Registers `name` as in flight for its lifetime.
class OperationScope {
 public:
  explicit OperationScope(const std::string& name);
  ~OperationScope();
  OperationScope(const OperationScope&) = delete;
  OperationScope& operator=(const OperationScope&) = delete;

 private:
  uint64_t id_;
};

// "all_reduce #12 (16 float32) on rank 0 of 2": the operation in flight longest; "" when none is.
std::string oldest_operation();

}  // namespace rm
