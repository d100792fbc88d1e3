// Work handles for a group's operations, and the queue that runs its collectives: one thread per
// group takes the operations in the order they were issued (the order every rank shares), so the
// caller goes on computing while they run, as c10d's Gloo backend does.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "process_group.h"

namespace rm {

// A Work completed by someone else: the queue's thread, or a transport's completion.
class PendingWork : public Work {
 public:
  explicit PendingWork(std::string name) : name_(std::move(name)) {}
  void wait(std::chrono::milliseconds timeout) override;
  void finish(std::exception_ptr failure);  // null: succeeded

 private:
  std::string name_;  // "all_reduce #3 (16 float32) on rank 0 of 2": how a timeout names it
  std::mutex mutex_;
  std::condition_variable finished_;
  bool done_ = false;
  std::exception_ptr failure_;
};

// A Work whose wait is a call: a posted send or receive waits on its transport.
class CallWork : public Work {
 public:
  explicit CallWork(std::function<void(std::chrono::milliseconds)> wait) : wait_(std::move(wait)) {}
  void wait(std::chrono::milliseconds timeout) override;

 private:
  std::function<void(std::chrono::milliseconds)> wait_;
  std::once_flag once_;
};

class OperationQueue {
 public:
  OperationQueue();
  ~OperationQueue();  // runs what is queued, then stops
  OperationQueue(const OperationQueue&) = delete;
  OperationQueue& operator=(const OperationQueue&) = delete;

  WorkPtr submit(std::string name, std::function<void()> body);

 private:
  void loop();
  struct Item {
    std::shared_ptr<PendingWork> work;
    std::function<void()> body;
  };
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the members it uses exist
};

}  // namespace rm
