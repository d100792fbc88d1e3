#include "shm_allreduce.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "../common.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define RM_PAUSE() _mm_pause()
#else
#define RM_PAUSE() std::this_thread::yield()
#endif

namespace rm {

// One cache line per rank so arrivals do not contend.
struct alignas(64) Arrival {
  std::atomic<uint64_t> count;
};

struct ShmAllReduce::Header {
  Arrival arrived[kMaxRanks];
};

static_assert(std::atomic<uint64_t>::is_always_lock_free, "cross-process atomics need lock-free 64-bit atomics");

static constexpr size_t kHeaderBytes = (sizeof(Arrival) * ShmAllReduce::kMaxRanks + 4095) / 4096 * 4096;

std::string machine_identity() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  std::string boot;
  std::ifstream("/proc/sys/kernel/random/boot_id") >> boot;
  return std::string(host) + "/" + boot;
}

ShmAllReduce::ShmAllReduce(const std::string& name, int rank, int size, bool create, std::chrono::milliseconds timeout)
    : name_(name), rank_(rank), size_(size), timeout_(timeout) {
  RM_CHECK(size >= 1 && size <= kMaxRanks, "INVALID_ARGUMENT", "shared-memory all-reduce supports up to 64 ranks per machine");
  // Two buffer sets, each with one slot per rank and one result area.
  bytes_ = kHeaderBytes + 2 * size_t(size + 1) * kChunkBytes;
  int fd = create ? shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600) : shm_open(name.c_str(), O_RDWR, 0600);
  RM_CHECK(fd >= 0, "SHM_FAILED", "shared memory " + name + ": " + std::strerror(errno));
  if (create && ftruncate(fd, off_t(bytes_)) != 0) {
    int err = errno;
    close(fd);
    shm_unlink(name.c_str());
    throw NativeError("SHM_FAILED", "shared memory " + name + ": cannot size it to " + std::to_string(bytes_) + " bytes: " + std::strerror(err));
  }
  base_ = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  RM_CHECK(base_ != MAP_FAILED, "SHM_FAILED", "shared memory " + name + ": mmap: " + std::strerror(errno));
  header_ = static_cast<Header*>(base_);  // zero-filled by ftruncate: every count starts at 0
}

ShmAllReduce::~ShmAllReduce() {
  if (base_ && base_ != MAP_FAILED) munmap(base_, bytes_);
}

void ShmAllReduce::unlink() { shm_unlink(name_.c_str()); }

char* ShmAllReduce::slot(int set, int rank) {
  return static_cast<char*>(base_) + kHeaderBytes + (size_t(set) * size_t(size_ + 1) + size_t(rank)) * kChunkBytes;
}

char* ShmAllReduce::result(int set) { return slot(set, size_); }

void ShmAllReduce::barrier() {
  uint64_t target = ++barriers_;
  header_->arrived[rank_].count.store(target, std::memory_order_release);
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (int q = 0; q < size_; ++q) {
    for (uint64_t spins = 0; header_->arrived[q].count.load(std::memory_order_acquire) < target; ++spins) {
      if (spins < 4096) RM_PAUSE();
      else sched_yield();
      if ((spins & 1023) == 1023 && std::chrono::steady_clock::now() > deadline) {
        std::string missing;
        for (int m = 0; m < size_; ++m)
          if (header_->arrived[m].count.load(std::memory_order_acquire) < target) missing += (missing.empty() ? "" : ", ") + std::to_string(m);
        throw NativeError("COLLECTIVE_TIMEOUT", "rank(s) " + missing + " never joined within " + std::to_string(timeout_.count()) + " ms");
      }
    }
  }
}

// out[i] = Σ_q slots[q][i], then · scale (averages), for i in [0, n)
template <class T>
__attribute__((target_clones("avx512f", "avx2", "default")))
static void sum_slots(T* __restrict out, T* const* slots, int count, size_t n, T scale) {
  for (size_t i = 0; i < n; ++i) out[i] = slots[0][i];
  for (int q = 1; q < count; ++q) {
    const T* __restrict s = slots[q];
    for (size_t i = 0; i < n; ++i) out[i] += s[i];
  }
  if (scale != T(1))
    for (size_t i = 0; i < n; ++i) out[i] *= scale;
}

template <class T>
void ShmAllReduce::reduce(T* data, size_t n, ReduceOp op) {
  constexpr size_t chunk = kChunkBytes / sizeof(T);
  T scale = op == ReduceOp::Avg ? T(1) / T(size_) : T(1);
  T* slots[kMaxRanks];
  for (size_t off = 0; off < n; off += chunk) {
    size_t len = std::min(chunk, n - off);
    int set = int(chunks_++ & 1);
    std::memcpy(slot(set, rank_), data + off, len * sizeof(T));
    barrier();
    size_t begin = len * size_t(rank_) / size_t(size_), end = len * size_t(rank_ + 1) / size_t(size_);
    for (int q = 0; q < size_; ++q) slots[q] = reinterpret_cast<T*>(slot(set, q)) + begin;
    sum_slots(reinterpret_cast<T*>(result(set)) + begin, slots, size_, end - begin, scale);
    barrier();
    std::memcpy(data + off, result(set), len * sizeof(T));
  }
}

void ShmAllReduce::all_reduce(void* data, size_t n, DType t, ReduceOp op) {
  if (t == DType::F32) return reduce(static_cast<float*>(data), n, op);
  if (t == DType::F64) return reduce(static_cast<double*>(data), n, op);
  throw NativeError("INVALID_ARGUMENT", "shared-memory all-reduce takes float32 or float64");
}

}  // namespace rm
