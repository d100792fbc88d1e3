#include "shm_segment.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "../core/common.h"

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

struct ShmSegment::Header {
  Arrival arrived[kMaxRanks];
};

static_assert(std::atomic<uint64_t>::is_always_lock_free, "cross-process atomics need lock-free 64-bit atomics");

static constexpr size_t kHeaderBytes = (sizeof(Arrival) * ShmSegment::kMaxRanks + 4095) / 4096 * 4096;

std::string machine_identity() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  std::string boot;
  std::ifstream("/proc/sys/kernel/random/boot_id") >> boot;
  return std::string(host) + "/" + boot;
}

std::string fresh_segment_name(const std::string& what) {
  return "/ringmaster-" + std::to_string(getpid()) + "-" + std::to_string(std::random_device{}()) + "-" + what;
}

ShmSegment::ShmSegment(const std::string& name, int rank, int size, size_t data_bytes, bool create, std::chrono::milliseconds timeout)
    : name_(name), rank_(rank), size_(size), timeout_(timeout) {
  RM_CHECK(size >= 1 && size <= kMaxRanks, "INVALID_ARGUMENT", "shared memory supports up to 64 ranks per machine");
  bytes_ = kHeaderBytes + data_bytes;
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
  data_ = static_cast<char*>(base_) + kHeaderBytes;
}

ShmSegment::~ShmSegment() {
  if (base_ && base_ != MAP_FAILED) munmap(base_, bytes_);
}

void ShmSegment::unlink() { shm_unlink(name_.c_str()); }

void ShmSegment::barrier() {
  uint64_t target = ++barriers_;
  header_->arrived[rank_].count.store(target, std::memory_order_release);
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (int q = 0; q < size_; ++q) {
    for (uint64_t spins = 0; header_->arrived[q].count.load(std::memory_order_acquire) < target; ++spins) {
      if (spins < 4096) RM_PAUSE();
      else sched_yield();
      if ((spins & 1023) == 1023 && std::chrono::steady_clock::now() > deadline) {
        std::string missing;
        std::vector<int> ranks;
        for (int m = 0; m < size_; ++m)
          if (header_->arrived[m].count.load(std::memory_order_acquire) < target) {
            missing += (missing.empty() ? "" : ", ") + std::to_string(m);
            ranks.push_back(m);
          }
        throw NativeError("COLLECTIVE_TIMEOUT", "rank(s) " + missing + " never joined within " + std::to_string(timeout_.count()) + " ms", ranks);
      }
    }
  }
}

}  // namespace rm
