// The machinery of data parallelism (when each way of using the threads applies: vae/runtime.h):
// ScopedSerialBlas keeps BLAS single-threaded inside each worker, and WorkerPool runs one task
// function on n persistent threads.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "vae/runtime.h"

namespace vae {

/// For code that runs its own workers, one per core, each calling BLAS on its own share of the
/// work (data parallelism): while alive, BLAS runs single-threaded inside each caller, so the
/// workers and BLAS's threads never compete for the cores. num_threads() still reports the
/// count in force, which is the number of workers to start. Restores BLAS's count on exit.
class ScopedSerialBlas {
 public:
  ScopedSerialBlas();
  ~ScopedSerialBlas();
  ScopedSerialBlas(const ScopedSerialBlas&) = delete;
  ScopedSerialBlas& operator=(const ScopedSerialBlas&) = delete;

 private:
  int saved_;
};

/// n persistent threads (the caller counts as one of them: n − 1 are started) that run one task
/// function at a time, fn(0) .. fn(n−1), fn(0) on the caller. run() returns when all have
/// finished; an exception from any of them is rethrown by run() (the first by worker index).
/// For many short phases per second (a training step has three): the workers sleep on a
/// condition variable between runs, so an idle pool costs no CPU.
class WorkerPool {
 public:
  explicit WorkerPool(int n);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int size() const { return n_; }
  void run(const std::function<void(int)>& fn);

 private:
  void work(int index);

  int n_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable start_, done_;
  const std::function<void(int)>* fn_ = nullptr;
  uint64_t generation_ = 0;  // bumped by each run(); a worker runs once per generation
  int pending_ = 0;          // workers still running the current generation
  bool stop_ = false;
  std::vector<std::exception_ptr> errors_;  // (n) the exception of each task, if any
};

}  // namespace vae
