// The flash attention kernels launched on a stream, for bf16 and fp16 operands.
#include "flash_attention.h"

#include <string>

#include "warp_primitives.cuh"
// The kernels, written in the primitives above.
#include "flash_attention_kernels.h"

namespace rm {

namespace {

// run(Head<D>, precision constant) for the 16-bit type of `precision`; the shape must be one
// flash_attention_applies takes.
template <class Run>
void dispatch(Precision precision, size_t B, size_t C, size_t H, Run&& run) {
  RM_CHECK(flash_attention_applies(precision, B, C, H), "INTERNAL",
           "flash attention called for " + std::to_string(B * H) + " heads of " + std::to_string(C / H) + " channels, which it does not take");
  flash::with_head(C / H, [&](auto head) {
    if (precision == Precision::BF16) run(head, std::integral_constant<Precision, Precision::BF16>{});
    else run(head, std::integral_constant<Precision, Precision::F16>{});
  });
}

}  // namespace

bool flash_attention_applies(Precision precision, size_t B, size_t C, size_t H) {
  // Heads go on the grid's y dimension (at most 65535 blocks).
  return precision != Precision::F32 && flash::supported_head(C / H) && B * H <= 65535;
}

void flash_attention_forward(cudaStream_t stream, Precision precision, Elements out, float* lse, Elements qkv, size_t B,
                             size_t T, size_t C, size_t H) {
  if (B * T == 0) return;
  StreamLaunch launch{stream, "flash attention"};
  dispatch(precision, B, C, H, [&](auto head, auto p) {
    flash::forward<decltype(head)::value, decltype(p)::value>(launch, out, lse, qkv, flash::shape(B, T, C, H));
  });
}

void flash_attention_backward(cudaStream_t stream, Precision precision, Elements dqkv, float* delta, Elements dout,
                              Elements qkv, Elements out, const float* lse, size_t B, size_t T, size_t C, size_t H) {
  if (B * T == 0) return;
  StreamLaunch launch{stream, "flash attention"};
  dispatch(precision, B, C, H, [&](auto head, auto p) {
    flash::backward<decltype(head)::value, decltype(p)::value>(launch, dqkv, delta, dout, qkv, out, lse, flash::shape(B, T, C, H));
  });
}

}  // namespace rm
