#include "isa_probe.h"

#include <chrono>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace rm {

#if defined(__x86_64__)

using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// 16 independent accumulator chains hide any latency up to 16 × the issue interval, so the
// loop measures issue throughput. The empty asm keeps the compiler from folding the chains.
#define RM_EACH16(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#define RM_DECLARE(i) __m512 c##i = _mm512_set1_ps(float(i));
#define RM_KEEP(i) __asm__ volatile("" : : "v"(c##i));

__attribute__((target("avx512f"))) static double fma_gflops(double seconds) {
  RM_EACH16(RM_DECLARE)
  __m512 x = _mm512_set1_ps(1.0001f), y = _mm512_set1_ps(0.9999f);
  constexpr long kRounds = 1 << 20;
  long rounds = 0;
  auto t0 = Clock::now();
  while (seconds_since(t0) < seconds) {
    for (long i = 0; i < kRounds; ++i) {
#define RM_FMA(i) c##i = _mm512_fmadd_ps(x, y, c##i);
      RM_EACH16(RM_FMA)
#undef RM_FMA
    }
    rounds += kRounds;
  }
  double elapsed = seconds_since(t0);
  RM_EACH16(RM_KEEP)
  return double(rounds) * 16 * 32 / elapsed / 1e9;
}

__attribute__((target("avx512f,avx512bf16"))) static double bf16_dot_gflops(double seconds) {
  RM_EACH16(RM_DECLARE)
  __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80), b = a;  // pairs of bf16 1.0
  constexpr long kRounds = 1 << 20;
  long rounds = 0;
  auto t0 = Clock::now();
  while (seconds_since(t0) < seconds) {
    for (long i = 0; i < kRounds; ++i) {
#define RM_DOT(i) c##i = _mm512_dpbf16_ps(c##i, a, b);
      RM_EACH16(RM_DOT)
#undef RM_DOT
    }
    rounds += kRounds;
  }
  double elapsed = seconds_since(t0);
  RM_EACH16(RM_KEEP)
  return double(rounds) * 16 * 64 / elapsed / 1e9;
}

#undef RM_KEEP
#undef RM_DECLARE
#undef RM_EACH16

// AMX needs the CPU to report it (CPUID leaf 7: AMX-TILE, AMX-BF16) and the kernel to grant the
// process the tile state (arch_prctl ARCH_REQ_XCOMP_PERM for XTILEDATA); hypervisors often hide it.
static std::string amx_state() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return "absent";
  bool tile = (d >> 24) & 1u, bf16 = (d >> 22) & 1u;
  if (!tile || !bf16) return "absent";
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0 ? "usable" : "not permitted by the OS";
}

IsaProbe probe_isa(double seconds) {
  IsaProbe r;
  r.amx = amx_state();
  if (!__builtin_cpu_supports("avx512f")) return r;
  r.fp32_fma_gflops = fma_gflops(seconds / 2);
  if (__builtin_cpu_supports("avx512bf16")) r.bf16_dot_gflops = bf16_dot_gflops(seconds / 2);
  return r;
}

#else

IsaProbe probe_isa(double) { return IsaProbe{0, 0, "absent"}; }

#endif

}  // namespace rm
