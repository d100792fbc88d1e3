// Causal self-attention on bf16 activations with AVX-512-BF16's dot products (VDPBF16PS), one
// (sequence, head) at a time with everything it touches in the core's L1/L2: the scores, the
// softmax and the products of a head run back to back, and the causal half above the diagonal
// is skipped in blocks of 16 keys. The numerics of the oneDNN path (bf16 operands, fp32
// accumulation, the probabilities and dS rounded to bf16 for the products that read them; here
// the forward rounds exp(s − max) and divides y's rows by Σ after the product), not its bits: a
// CPU without AVX-512-BF16 runs that path and rounds differently in the last places, as oneDNN's
// own kernels differ between CPUs. Without its per-call overhead, its batched products' strided
// gemm kernels and its T×T tiles streamed through memory.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rm {

// Whether these kernels can run attention of T positions and heads of D channels here: the CPU
// has AVX-512-BF16, T is a multiple of 16 and D of 16.
bool fused_bf16_attention_fits(size_t T, size_t D);

// y[B·T, C] (bf16) and lse[B, H, T] from qkv[B·T, 3C] (bf16): attention_forward's contract.
void fused_bf16_attention_forward(uint16_t* y, float* lse, const uint16_t* qkv, size_t B, size_t T, size_t C, size_t H);

// dqkv[B·T, 3C] from dy[B·T, C], qkv, y and lse (all bf16 but lse): attention_backward's contract.
void fused_bf16_attention_backward(uint16_t* dqkv, const uint16_t* dy, const uint16_t* qkv, const uint16_t* y, const float* lse,
                                   size_t B, size_t T, size_t C, size_t H);

}  // namespace rm
