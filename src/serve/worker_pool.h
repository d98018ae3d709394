// Threads that run the service's model calls, behind a bounded queue: a job is taken only when
// the queue has room, so a flood of requests is turned away (503) instead of piling up memory.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vae::serve {

class WorkerPool {
 public:
  /// `threads` ≥ 1 workers; at most `capacity` jobs waiting (not counting the running ones).
  WorkerPool(int threads, size_t capacity);
  ~WorkerPool();  ///< runs the jobs already queued, then joins
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  /// Queues `job`; false (and `job` dropped unrun) when the queue is full.
  bool try_submit(std::function<void()> job);

 private:
  void work();

  size_t capacity_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  bool closing_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace vae::serve
