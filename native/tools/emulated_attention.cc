// The flash attention kernels (kernels/cuda/flash_attention_kernels.h), the source the GPU runs,
// emulated on the CPU through native/tools/warp_emulation.h: every head size built, bf16 and
// fp16, against the fp32 reference kernels (attention16_check.h). One JSON line per check, as
// kernel-check prints (test/native/emulated-kernels.test.ts reads them); exits 1 if any failed.
#include "warp_emulation.h"
// The kernels, written in the primitives above.
#include "../src/kernels/cuda/flash_attention_kernels.h"
#include "attention16_check.h"

using namespace rm;
using namespace rm::check;

namespace {

struct EmulatedLaunch {
  template <class... Params, class... Args>
  void operator()(void (*kernel)(Params...), int blocks_x, int blocks_y, int threads, Args... args) {
    emu::launch(kernel, blocks_x, blocks_y, threads, args...);
  }
};

template <Precision P>
AttentionRun emulated(size_t B, size_t T, size_t C, size_t H) {
  flash::Shape s{int(B), int(T), int(C), int(H), 1.0f / std::sqrt(float(C / H))};
  AttentionRun run;
  run.forward = [=](float* out, float* lse, const float* qkv) {
    EmulatedLaunch launch;
    flash::with_head(C / H, [&](auto head) { flash::forward<decltype(head)::value, P>(launch, out, lse, qkv, s); });
  };
  run.backward = [=](float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse) {
    EmulatedLaunch launch;
    Vec delta(B * H * T);
    flash::with_head(C / H, [&](auto head) {
      flash::backward<decltype(head)::value, P>(launch, dqkv, delta.data(), dout, qkv, out, lse, s);
    });
  };
  return run;
}

}  // namespace

int main() {
  Rng rng(77);
  // fp16 differs from bf16 only in the conversions: two shapes (both inner tile sizes) suffice.
  for (const AttentionShape& a : kAttention16Shapes) {
    attention16_check("cuda-emulated", Precision::BF16, a.B, a.T, a.C, a.H, rng, emulated<Precision::BF16>(a.B, a.T, a.C, a.H));
    if (a.C / a.H != 64)
      attention16_check("cuda-emulated", Precision::F16, a.B, a.T, a.C, a.H, rng, emulated<Precision::F16>(a.B, a.T, a.C, a.H));
  }
  return failed_any ? 1 : 0;
}
