// Gradient compression for the all-reduces that cross a network, as DDP's bf16/fp16 compression
// hooks do: each value is scaled (pre-divided by the ranks, so fp16 sums do not overflow),
// rounded to 16 bits and sent so; every hop of Gloo's ring adds two 16-bit values in fp32 and
// rounds the sum back. Half the bytes on the wire, at the cost of a rounding per hop.
#pragma once

#include <gloo/context.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "../precision/precision.h"

namespace rm {

// data[n] ← Σ over the context's ranks of scale · data, through `wire` (BF16 or F16) on the
// network. Returns the bytes this rank contributed (n × 2).
size_t compressed_sum(const std::shared_ptr<gloo::Context>& context, float* data, size_t n, float scale, Precision wire,
                      uint32_t tag, std::chrono::milliseconds timeout);

}  // namespace rm
