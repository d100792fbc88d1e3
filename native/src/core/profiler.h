// Where a step's time goes, module by module: when a model has a Profiler, each leaf module
// (a Linear, a LayerNorm, the attention core, ...) times its forward and backward and counts
// their FLOPs under its PyTorch path ("transformer.h.0.attn.c_attn"). Off, it costs one null
// check per call.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace rm {

class Profiler {
 public:
  struct Entry {
    std::string name;
    double forward_s = 0, backward_s = 0;
    double forward_flops = 0, backward_flops = 0;
    size_t calls = 0;          // forward calls
    size_t activation_bytes = 0;  // what the module keeps for backward, at the largest batch
  };
  enum class Phase { Forward, Backward };

  void add(const std::string& name, Phase phase, double seconds, double flops, size_t activation_bytes) {
    auto [it, fresh] = index_.emplace(name, entries_.size());
    if (fresh) entries_.push_back(Entry{name});
    Entry& e = entries_[it->second];
    if (phase == Phase::Forward) {
      e.forward_s += seconds, e.forward_flops += flops, ++e.calls;
      e.activation_bytes = activation_bytes;
    } else {
      e.backward_s += seconds, e.backward_flops += flops;
    }
  }
  const std::vector<Entry>& entries() const { return entries_; }  // in the order first seen
  void reset() {
    entries_.clear();
    index_.clear();
  }

 private:
  std::vector<Entry> entries_;
  std::map<std::string, size_t> index_;
};

// Times the enclosing scope into `profiler` (nothing when it is null).
class ProfileScope {
 public:
  ProfileScope(Profiler* profiler, const std::string& name, Profiler::Phase phase, double flops, size_t activation_bytes = 0)
      : profiler_(profiler), name_(name), phase_(phase), flops_(flops), bytes_(activation_bytes) {
    if (profiler_) start_ = std::chrono::steady_clock::now();
  }
  ~ProfileScope() {
    if (!profiler_) return;
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    profiler_->add(name_, phase_, s, flops_, bytes_);
  }
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  Profiler* profiler_;
  const std::string& name_;
  Profiler::Phase phase_;
  double flops_;
  size_t bytes_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace rm
