// A shared-memory segment for the ranks of one machine: a header of per-rank arrival counters
// (a barrier that names the ranks missing at its timeout) followed by data the ranks share.
// Local rank 0 creates it under a fresh name; the others open it; once all have it mapped the
// name is unlinked, so nothing is left behind in /dev/shm whatever happens to the processes.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace rm {

class ShmSegment {
 public:
  static constexpr int kMaxRanks = 64;

  ShmSegment(const std::string& name, int rank, int size, size_t data_bytes, bool create, std::chrono::milliseconds timeout);
  ~ShmSegment();
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;

  void unlink();
  char* data() { return data_; }
  int rank() const { return rank_; }
  int size() const { return size_; }

  // Returns once every rank has called it as often; COLLECTIVE_TIMEOUT naming the missing ranks.
  void barrier();

 private:
  struct Header;
  std::string name_;
  int rank_, size_;
  std::chrono::milliseconds timeout_;
  void* base_ = nullptr;
  size_t bytes_ = 0;
  Header* header_ = nullptr;
  char* data_ = nullptr;
  uint64_t barriers_ = 0;  // barriers this rank has passed
};

// A name for this machine that differs between machines and between boots.
std::string machine_identity();

// "/ringmaster-<pid>-<random>-<what>": a name no other live segment of this machine has.
std::string fresh_segment_name(const std::string& what);

}  // namespace rm
