// What this CPU's vector units deliver, measured: the throughput of fp32 fused multiply-adds and
// of bf16 dot products (AVX-512-BF16's VDPBF16PS) in registers, with no memory traffic, and
// whether AMX's tile units can be used. bench/ prints these beside the matmul peaks, so a bf16
// speed-up that the hardware cannot give is visible as such.
#pragma once

#include <string>

namespace rm {

struct IsaProbe {
  double fp32_fma_gflops = 0;   // 16-lane FMAs, 2 flops per lane
  double bf16_dot_gflops = 0;   // VDPBF16PS, 2 products + 2 adds per fp32 lane; 0 if absent
  std::string amx;              // "usable", "not permitted by the OS" or "absent"
};

// Runs for about `seconds` on the calling thread.
IsaProbe probe_isa(double seconds);

}  // namespace rm
