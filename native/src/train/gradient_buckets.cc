#include "gradient_buckets.h"

#include <algorithm>
#if defined(__x86_64__)
#include <pmmintrin.h>
#endif

#include "../core/common.h"

namespace rm {

std::vector<Range> plan_buckets(const std::vector<size_t>& layer_offsets, size_t total, size_t cap,
                                const std::vector<bool>& skip) {
  std::vector<Range> buckets;
  size_t end = total;
  for (size_t k = layer_offsets.size(); k-- > 0;) {
    size_t begin = layer_offsets[k];
    if (k < skip.size() && skip[k]) {
      size_t layer_end = k + 1 < layer_offsets.size() ? layer_offsets[k + 1] : total;
      if (end > layer_end) buckets.push_back({layer_end, end});
      end = begin;
      continue;
    }
    bool last_layer = k == 0;
    if (end - begin >= std::max<size_t>(cap, 1) || (last_layer && end > begin)) {
      buckets.push_back({begin, end});
      end = begin;
    }
  }
  return buckets;
}

BucketReducer::BucketReducer(Reduce reduce, std::chrono::milliseconds timeout)
    : reduce_(std::move(reduce)), timeout_(timeout), thread_([this] { loop(); }) {}

BucketReducer::~BucketReducer() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void BucketReducer::launch(size_t bucket) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(bucket);
    ++launched_;
  }
  changed_.notify_all();
}

void BucketReducer::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  size_t seen = done_;
  while (done_ < launched_) {
    if (!changed_.wait_for(lock, timeout_, [&] { return done_ != seen; }))
      throw NativeError("COLLECTIVE_TIMEOUT", "no gradient bucket finished its all-reduce within " +
                                                  std::to_string(timeout_.count()) + " ms");
    seen = done_;
  }
  if (failure_) {
    auto failure = failure_;
    failure_ = nullptr;
    std::rethrow_exception(failure);
  }
}

void BucketReducer::loop() {
#if defined(__x86_64__)
  // Gradients of dead units are denormal often enough to matter (see parallel.h).
  _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
  _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
#endif
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    size_t bucket = queue_.front();
    queue_.pop_front();
    bool skip = failure_ != nullptr;  // after a failure the step is lost: drain, do not reduce
    lock.unlock();
    std::exception_ptr failure;
    if (!skip) {
      try {
        reduce_(bucket);
      } catch (...) {
        failure = std::current_exception();
      }
    }
    lock.lock();
    if (failure && !failure_) failure_ = failure;
    ++done_;
    changed_.notify_all();
  }
}

}  // namespace rm
