// WorkerPool (src/core/pool.h): n − 1 threads woken by a generation counter.
#include "core/pool.h"


namespace vae {

WorkerPool::WorkerPool(int n) : n_(n < 1 ? 1 : n), errors_(static_cast<size_t>(n_)) {
  threads_.reserve(static_cast<size_t>(n_ - 1));
  for (int i = 1; i < n_; ++i) threads_.emplace_back([this, i] { work(i); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  start_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void WorkerPool::work(int index) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int)>* fn;
    {
      std::unique_lock<std::mutex> lock(mu_);
      start_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      fn = fn_;
    }
    try {
      (*fn)(index);
    } catch (...) {
      errors_[static_cast<size_t>(index)] = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (--pending_ == 0) done_.notify_one();
  }
}

void WorkerPool::run(const std::function<void(int)>& fn) {
  for (auto& e : errors_) e = nullptr;
  if (n_ > 1) {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = &fn;
    pending_ = n_ - 1;
    ++generation_;
  }
  if (n_ > 1) start_.notify_all();
  try {
    fn(0);
  } catch (...) {
    errors_[0] = std::current_exception();
  }
  if (n_ > 1) {
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [&] { return pending_ == 0; });
    fn_ = nullptr;
  }
  for (auto& e : errors_)
    if (e) std::rethrow_exception(e);
}

}  // namespace vae
