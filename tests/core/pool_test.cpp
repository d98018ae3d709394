// WorkerPool (src/core/pool.h): every index runs once per run(), on distinct threads, and
// exceptions reach the caller.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/pool.h"

namespace {

TEST(WorkerPool, RunsEveryIndexOncePerRunOnItsOwnThread) {
  for (int n : {1, 2, 3, 5}) {
    vae::WorkerPool pool(n);
    EXPECT_EQ(pool.size(), n);
    for (int run = 0; run < 200; ++run) {
      std::vector<int> count(static_cast<size_t>(n), 0);
      std::vector<std::thread::id> ids(static_cast<size_t>(n));
      pool.run([&](int i) {
        ++count[static_cast<size_t>(i)];
        ids[static_cast<size_t>(i)] = std::this_thread::get_id();
      });
      for (int i = 0; i < n; ++i) ASSERT_EQ(count[static_cast<size_t>(i)], 1) << n << " " << i;
      EXPECT_EQ(ids[0], std::this_thread::get_id());  // task 0 runs on the caller
      EXPECT_EQ(std::set<std::thread::id>(ids.begin(), ids.end()).size(), static_cast<size_t>(n));
    }
  }
}

TEST(WorkerPool, RunReturnsOnlyWhenAllTasksFinished) {
  vae::WorkerPool pool(3);
  std::atomic<int> done{0};
  for (int run = 0; run < 50; ++run) {
    pool.run([&](int i) {
      if (i != 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
      done.fetch_add(1);
    });
    ASSERT_EQ(done.load(), 3 * (run + 1));
  }
}

TEST(WorkerPool, RethrowsATaskExceptionAndStaysUsable) {
  vae::WorkerPool pool(2);
  EXPECT_THROW(pool.run([](int i) {
    if (i == 1) throw std::runtime_error("task 1");
  }),
               std::runtime_error);
  EXPECT_THROW(pool.run([](int i) {
    if (i == 0) throw std::runtime_error("task 0");
  }),
               std::runtime_error);
  int sum = 0;
  std::mutex mu;
  pool.run([&](int i) {
    std::lock_guard<std::mutex> lock(mu);
    sum += i + 1;
  });
  EXPECT_EQ(sum, 3);
}

}  // namespace
