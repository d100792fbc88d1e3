#include "work_queue.h"

#include "../core/common.h"

namespace rm {

void PendingWork::wait(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!finished_.wait_for(lock, timeout, [this] { return done_; }))
    throw NativeError("COLLECTIVE_TIMEOUT", name_ + ": not finished within " + std::to_string(timeout.count()) + " ms");
  if (failure_) std::rethrow_exception(failure_);
}

void PendingWork::finish(std::exception_ptr failure) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = true;
    failure_ = std::move(failure);
  }
  finished_.notify_all();
}

// Waiting twice on a send or receive is waiting once: the second returns at once.
void CallWork::wait(std::chrono::milliseconds timeout) {
  std::call_once(once_, [&] { wait_(timeout); });
}

OperationQueue::OperationQueue() : thread_([this] { loop(); }) {}

OperationQueue::~OperationQueue() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

WorkPtr OperationQueue::submit(std::string name, std::function<void()> body) {
  auto work = std::make_shared<PendingWork>(std::move(name));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back({work, std::move(body)});
  }
  changed_.notify_all();
  return work;
}

void OperationQueue::loop() {
  for (;;) {
    Item item;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    std::exception_ptr failure;
    try {
      item.body();
    } catch (...) {
      failure = std::current_exception();
    }
    item.work->finish(failure);
  }
}

}  // namespace rm
