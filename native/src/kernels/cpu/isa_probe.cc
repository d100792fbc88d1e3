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

// Each runs `rounds` rounds of 16 independent accumulator chains (enough to hide any latency up to
// 16 × the issue interval, so the loop measures issue throughput). The empty asm pins every chain
// to a register each round, so the compiler can neither fold the loop nor drop it.
#define RM_EACH16(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#define RM_DECLARE(i) __m512 c##i = _mm512_set1_ps(float(i));
#define RM_PIN(i) __asm__ volatile("" : "+v"(c##i));
#define RM_SUM(i) sum = _mm512_add_ps(sum, c##i);

__attribute__((target("avx512f"))) static float fma_rounds(long rounds) {
  RM_EACH16(RM_DECLARE)
  __m512 x = _mm512_set1_ps(1.0001f), y = _mm512_set1_ps(0.9999f);
  for (long i = 0; i < rounds; ++i) {
#define RM_FMA(i) c##i = _mm512_fmadd_ps(x, y, c##i);
    RM_EACH16(RM_FMA)
#undef RM_FMA
    RM_EACH16(RM_PIN)
  }
  __m512 sum = _mm512_setzero_ps();
  RM_EACH16(RM_SUM)
  return _mm512_cvtss_f32(sum);
}

__attribute__((target("avx512f,avx512bf16"))) static float dot_rounds(long rounds) {
  RM_EACH16(RM_DECLARE)
  __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80), b = a;  // pairs of bf16 1.0
  for (long i = 0; i < rounds; ++i) {
#define RM_DOT(i) c##i = _mm512_dpbf16_ps(c##i, a, b);
    RM_EACH16(RM_DOT)
#undef RM_DOT
    RM_EACH16(RM_PIN)
  }
  __m512 sum = _mm512_setzero_ps();
  RM_EACH16(RM_SUM)
  return _mm512_cvtss_f32(sum);
}

#undef RM_SUM
#undef RM_PIN
#undef RM_DECLARE
#undef RM_EACH16

// GFLOP/s of `run` repeated for `seconds`, one round being 16 instructions of `flops` each.
static double gflops(float (*run)(long), double flops, double seconds) {
  using Clock = std::chrono::steady_clock;
  constexpr long kRounds = 1 << 20;
  volatile float sink = 0;
  long rounds = 0;
  auto t0 = Clock::now();
  double elapsed = 0;
  while (elapsed < seconds) {
    sink = sink + run(kRounds);
    rounds += kRounds;
    elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  return double(rounds) * 16 * flops / elapsed / 1e9;
}

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
  r.fp32_fma_gflops = gflops(fma_rounds, 32, seconds / 2);  // 16 lanes × (multiply + add)
  if (__builtin_cpu_supports("avx512bf16")) r.bf16_dot_gflops = gflops(dot_rounds, 64, seconds / 2);  // 16 lanes × 2 products, 2 adds
  return r;
}

#else

IsaProbe probe_isa(double) { return IsaProbe{0, 0, "absent"}; }

#endif

}  // namespace rm
