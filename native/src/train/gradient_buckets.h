// Gradient buckets, as DDP cuts them: the flat gradient buffer split at layer boundaries into
// ranges of at least `cap` floats, listed in the order backward finishes them (last layer
// first). A BucketReducer averages each bucket on its own thread as soon as backward has
// finished it, so the exchange of the last layers' gradients overlaps the backward pass of the
// first ones; the compute thread waits only for what is left when backward ends.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "../core/common.h"

namespace rm {

// layer_offsets: where each layer's parameters begin, ascending, within [0, total). Layers
// marked in `skip` (empty: none) are in no bucket, and no bucket spans one.
std::vector<Range> plan_buckets(const std::vector<size_t>& layer_offsets, size_t total, size_t cap,
                                const std::vector<bool>& skip = {});

class BucketReducer {
 public:
  using Reduce = std::function<void(size_t bucket)>;

  // `timeout`: the longest a wait may go without a bucket finishing (the group's own timeout
  // fires first when a peer is missing; this guards against a reducer that stopped).
  BucketReducer(Reduce reduce, std::chrono::milliseconds timeout);
  ~BucketReducer();
  BucketReducer(const BucketReducer&) = delete;
  BucketReducer& operator=(const BucketReducer&) = delete;

  // Queues a bucket; buckets are reduced one at a time, in the order launched.
  void launch(size_t bucket);
  // Returns once every bucket launched since the last wait is reduced; rethrows the first failure.
  void wait();

 private:
  void loop();

  Reduce reduce_;
  std::chrono::milliseconds timeout_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<size_t> queue_;
  size_t launched_ = 0, done_ = 0;
  std::exception_ptr failure_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the members it uses exist
};

}  // namespace rm
