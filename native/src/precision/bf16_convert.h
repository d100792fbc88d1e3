// fp32 arrays narrowed to bf16 on the CPU, nearest with ties to even, at the speed the CPU allows:
// with AVX-512-BF16's VCVTNEPS2BF16 (16 values an instruction) where the CPU has it, else with
// bf16_bits_rounded in a loop the compiler vectorises. Both give the same bits for every input,
// NaN (made quiet) and fp32 subnormals (which the instruction would read as zero) included, so a
// result does not depend on which CPU ran it. One thread; callers split the work.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rm {

// dst[n] ← the bf16 encodings of src rounded to nearest.
void bf16_narrow(uint16_t* dst, const float* src, size_t n);
// dst[n] ← the fp32 values of bf16 encodings (exact).
void bf16_widen(float* dst, const uint16_t* src, size_t n);
// dst[n] ← src rounded to bf16, as fp32 values (dst may equal src).
void bf16_round(float* dst, const float* src, size_t n);

}  // namespace rm
