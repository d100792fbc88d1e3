// The thread, block and warp operations the cooperative kernels (flash_attention_kernels.h,
// attention_kernels.h, row_kernels.h) are written in, on the GPU, and StreamLaunch, which
// launches them. native/tools/warp_emulation.h defines the same names on the CPU, where a block's
// threads run in step, so the same kernel source is checked without a GPU.
//
// mma16816: D(16×8, fp32) += A(16×16) · B(16×8) in bf16 or fp16 with fp32 accumulation, PTX
// mma.sync.m16n8k16 (sm_80 and later). Fragments, with g = lane / 4 and c = 2·(lane % 4):
//   A: a[0] = (row g, cols c, c+1), a[1] = (row g+8, cols c, c+1), a[2] = (row g, cols c+8, c+9),
//      a[3] = (row g+8, cols c+8, c+9), two 16-bit values per register, the lower column low;
//   B: b[0] = (rows c, c+1 of column g), b[1] = (rows c+8, c+9 of column g);
//   D: d[0], d[1] = (row g, cols c, c+1), d[2], d[3] = (row g+8, cols c, c+1).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "../../cuda/cuda_check.h"
#include "../../precision/precision.h"

#define RM_KERNEL __global__
#define RM_DEVICE_INLINE __device__ __forceinline__
#define RM_SHARED __shared__

namespace rm {

RM_DEVICE_INLINE int thread_index() { return int(threadIdx.x); }
RM_DEVICE_INLINE int block_index_x() { return int(blockIdx.x); }
RM_DEVICE_INLINE int block_index_y() { return int(blockIdx.y); }
RM_DEVICE_INLINE int block_size() { return int(blockDim.x); }
RM_DEVICE_INLINE int grid_size_x() { return int(gridDim.x); }
RM_DEVICE_INLINE void sync_block() { __syncthreads(); }
// x of the lane whose index is this lane's XOR lane_mask (float, int or double).
template <class T>
RM_DEVICE_INLINE T shfl_xor(T x, int lane_mask) {
  return __shfl_xor_sync(0xffffffffu, x, lane_mask);
}

// Σ x over the warp, every lane getting it: the same tree on every run.
template <class T>
RM_DEVICE_INLINE T warp_total(T x) {
  for (int offset = 16; offset > 0; offset /= 2) x += shfl_xor(x, offset);
  return x;
}

// Launches kernel(args…) on a stream as blocks_x × blocks_y blocks of `threads` threads; the
// kernels' launch helpers take it (the emulator's EmulatedLaunch has the same call).
struct StreamLaunch {
  cudaStream_t stream;
  const char* what;
  template <class... Params, class... Args>
  void operator()(void (*kernel)(Params...), size_t blocks_x, size_t blocks_y, int threads, Args... args) const {
    if (blocks_x == 0 || blocks_y == 0) return;
    RM_CHECK(blocks_x <= 0x7fffffffu && blocks_y <= 65535u, "INVALID_ARGUMENT",
             std::string(what) + ": a grid of " + std::to_string(blocks_x) + " × " + std::to_string(blocks_y) + " blocks is past the GPU's limits");
    kernel<<<dim3(unsigned(blocks_x), unsigned(blocks_y)), unsigned(threads), 0, stream>>>(args...);
    RM_CUDA_LAUNCHED(what);
  }
};

// x as a 16-bit value of P (nearest, ties to even).
template <Precision P>
RM_DEVICE_INLINE uint16_t to_half(float x) {
  if constexpr (P == Precision::BF16) return __bfloat16_as_ushort(__float2bfloat16_rn(x));
  else return __half_as_ushort(__float2half_rn(x));
}

// Two 16-bit values of P in one register, `lo` in the low half.
template <Precision P>
RM_DEVICE_INLINE uint32_t pack2(float lo, float hi) {
  return uint32_t(to_half<P>(lo)) | (uint32_t(to_half<P>(hi)) << 16);
}

// The 32 bits at p (two adjacent 16-bit values; p is 4-byte aligned).
RM_DEVICE_INLINE uint32_t load_pair(const uint16_t* p) { return *reinterpret_cast<const uint32_t*>(p); }

template <Precision P>
RM_DEVICE_INLINE void mma16816(float d[4], const uint32_t a[4], const uint32_t b[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (P == Precision::BF16) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
#else
  __trap();  // the build targets sm_80 and later only
#endif
}

}  // namespace rm
