// Gradient sums that cross a network, optionally compressed as DDP's bf16/fp16 communication
// hooks do: each value is scaled (pre-divided by the ranks, so fp16 sums do not overflow) and
// rounded to 16 bits; the group adds the 16-bit values in fp32 at every step and rounds back.
// Half the bytes on the wire, at the cost of a rounding per step.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../collectives/process_group.h"
#include "../precision/precision.h"

namespace rm {

class GradientWire {
 public:
  explicit GradientWire(Precision wire) : wire_(wire) {}
  // data[n] ← Σ over the group's ranks of scale · data, with wire_ values on the network.
  // Returns the factor still to apply: scale for fp32 (applied by the caller, fused with what it
  // does next), 1 when the values were scaled on the way.
  float sum(ProcessGroup& group, float* data, size_t n, float scale);
  // Bytes this rank has put on the network so far.
  size_t bytes() const { return bytes_; }

 private:
  Precision wire_;
  std::vector<uint16_t> staging_;  // the 16-bit values of one sum
  std::atomic<size_t> bytes_{0};   // added to on the reducer's thread, read by the trainer
};

}  // namespace rm
