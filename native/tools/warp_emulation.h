// The primitives of kernels/cuda/warp_primitives.cuh on the CPU, so the cooperative kernels
// written in them (flash and fp32 attention, LayerNorm, cross-entropy, Σ x²) run here unchanged
// for a check: a block's threads are host threads that meet at barriers (spinning, yielding the
// core) where the GPU's threads would: sync_block, and each warp's shuffles and matrix products,
// which exchange registers through the warp's slots. Blocks run one at a time, so a kernel's
// static arrays (RM_SHARED) are its block's shared memory (zeroed here, garbage on a GPU). The
// matrix product multiplies the 16-bit values exactly and sums in fp32, as the tensor cores do up
// to the order. Slow (a host thread per GPU thread of a block, barriers for every exchange):
// small shapes only.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "../src/precision/precision.h"

#define RM_KERNEL
#define RM_DEVICE_INLINE inline
#define RM_SHARED static

namespace rm {
namespace emu {

// Threads of a block (or a warp) meeting. A thread whose kernel returned counts as exited: a
// wait that every other thread has either reached or exited from can never complete, and on a
// GPU it is undefined (a __syncthreads, or a full-mask shuffle or mma.sync, that part of the
// block or warp skips), so it aborts instead of hanging.
class Barrier {
 public:
  Barrier(int count, const char* what) : count_(count), what_(what) {}
  void wait() {
    unsigned generation = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == count_) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.store(generation + 1, std::memory_order_release);
      return;
    }
    while (generation_.load(std::memory_order_acquire) == generation) {
      int exited = exited_.load(std::memory_order_acquire);
      if (exited > 0 && arrived_.load(std::memory_order_acquire) + exited >= count_) {
        std::fprintf(stderr, "warp emulation: %s reached by only part of the threads (%d exited): undefined on a GPU\n", what_, exited);
        std::abort();
      }
      std::this_thread::yield();
    }
  }
  void exit() { exited_.fetch_add(1, std::memory_order_acq_rel); }
  void reset_exits() { exited_.store(0, std::memory_order_release); }

 private:
  int count_;
  const char* what_;
  std::atomic<int> arrived_{0}, exited_{0};
  std::atomic<unsigned> generation_{0};
};

struct Warp {
  Barrier barrier{32, "a warp's shuffle or matrix product"};
  uint32_t a[32][4], b[32][2];  // each lane's fragments of the product under way
  double value[32];             // each lane's value of the shuffle under way (up to 8 bytes)
};

struct Block {
  Block(int threads, int grid_x)
      : barrier(threads, "sync_block"), done(threads, "the end of a block"), warps(size_t(threads) / 32), threads(threads), grid_x(grid_x) {}
  Barrier barrier, done;  // the kernel's sync_block; the launcher's, around each block
  std::vector<Warp> warps;
  int threads, grid_x;
  int x = 0, y = 0;
};

inline thread_local Block* current_block = nullptr;
inline thread_local int current_thread = 0;
inline Warp& warp() { return current_block->warps[size_t(current_thread) / 32]; }
inline int lane() { return current_thread % 32; }

// kernel(args…) over blocks_x × blocks_y blocks of `threads` threads (a multiple of 32): one team
// of host threads runs the blocks in turn, meeting before and after each; a thread whose kernel
// returns exits its block's and warp's barriers.
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), int blocks_x, int blocks_y, int threads, Args... args) {
  Block block(threads, blocks_x);
  std::vector<std::thread> team;
  for (int t = 0; t < threads; ++t)
    team.emplace_back([&, t] {
      current_block = &block;
      current_thread = t;
      for (int y = 0; y < blocks_y; ++y)
        for (int x = 0; x < blocks_x; ++x) {
          if (t == 0) {
            block.x = x, block.y = y;
            block.barrier.reset_exits();
            for (auto& w : block.warps) w.barrier.reset_exits();
          }
          block.done.wait();
          kernel(args...);
          block.barrier.exit();
          warp().barrier.exit();
          block.done.wait();  // the block is done with its shared memory
        }
    });
  for (auto& thread : team) thread.join();
}

}  // namespace emu

inline int thread_index() { return emu::current_thread; }
inline int block_index_x() { return emu::current_block->x; }
inline int block_index_y() { return emu::current_block->y; }
inline int block_size() { return emu::current_block->threads; }
inline int grid_size_x() { return emu::current_block->grid_x; }
inline void sync_block() { emu::current_block->barrier.wait(); }

template <class T>
inline T shfl_xor(T x, int lane_mask) {
  static_assert(sizeof(T) <= sizeof(double), "a shuffle moves at most 8 bytes");
  emu::Warp& w = emu::warp();
  int lane = emu::lane();
  std::memcpy(&w.value[lane], &x, sizeof x);
  w.barrier.wait();
  T other;
  std::memcpy(&other, &w.value[lane ^ lane_mask], sizeof other);
  w.barrier.wait();  // nobody writes the next value before every lane has read this one
  return other;
}

template <class T>
inline T warp_total(T x) {
  for (int offset = 16; offset > 0; offset /= 2) x += shfl_xor(x, offset);
  return x;
}

// warp_primitives.cuh's StreamLaunch, on the emulator.
struct EmulatedLaunch {
  template <class... Params, class... Args>
  void operator()(void (*kernel)(Params...), size_t blocks_x, size_t blocks_y, int threads, Args... args) const {
    emu::launch(kernel, int(blocks_x), int(blocks_y), threads, args...);
  }
};

template <Precision P>
inline uint16_t to_half(float x) {
  if constexpr (P == Precision::BF16) return bf16_bits(round_to_bf16(x));
  else return fp16_bits(round_to_fp16(x));
}

template <Precision P>
inline float half_value(uint16_t h) {
  if constexpr (P == Precision::BF16) return bf16_value(h);
  else return fp16_value(h);
}

template <Precision P>
inline uint32_t pack2(float lo, float hi) {
  return uint32_t(to_half<P>(lo)) | (uint32_t(to_half<P>(hi)) << 16);
}

// The GPU's 32-bit shared-memory load faults at an address that is not a multiple of 4: so does
// this one (a kernel's shared arrays must be aligned, and its pairs start at even offsets).
inline uint32_t load_pair(const uint16_t* p) {
  if (reinterpret_cast<uintptr_t>(p) % 4 != 0) {
    std::fprintf(stderr, "warp emulation: load_pair at %p, not 4-byte aligned: the GPU faults there\n", static_cast<const void*>(p));
    std::abort();
  }
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The fragment layout of warp_primitives.cuh's mma16816: every lane posts its registers, then
// each computes its own four outputs from the whole A and B.
template <Precision P>
inline void mma16816(float d[4], const uint32_t a[4], const uint32_t b[2]) {
  emu::Warp& w = emu::warp();
  int lane = emu::lane();
  std::memcpy(w.a[lane], a, sizeof w.a[lane]);
  std::memcpy(w.b[lane], b, sizeof w.b[lane]);
  w.barrier.wait();
  float A[16][16], B[16][8];
  for (int l = 0; l < 32; ++l) {
    int g = l / 4, c = 2 * (l % 4);
    for (int i = 0; i < 4; ++i) {
      int row = g + 8 * (i % 2), col = c + 8 * (i / 2);
      A[row][col] = half_value<P>(uint16_t(w.a[l][i] & 0xffffu));
      A[row][col + 1] = half_value<P>(uint16_t(w.a[l][i] >> 16));
    }
    for (int i = 0; i < 2; ++i) {
      B[c + 8 * i][g] = half_value<P>(uint16_t(w.b[l][i] & 0xffffu));
      B[c + 8 * i + 1][g] = half_value<P>(uint16_t(w.b[l][i] >> 16));
    }
  }
  w.barrier.wait();
  int g = lane / 4, c = 2 * (lane % 4);
  for (int i = 0; i < 4; ++i) {
    int row = g + 8 * (i / 2), col = c + i % 2;
    float sum = d[i];
    for (int k = 0; k < 16; ++k) sum += A[row][k] * B[k][col];
    d[i] = sum;
  }
}

}  // namespace rm
