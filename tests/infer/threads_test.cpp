// Many threads on one loaded model (include/vae/infer.h, "Threads"): 8 threads each make many
// calls of every kind on ONE vae::Model, with batch sizes that vary from call to call, and every
// result is bit-identical to the same call made serially. Also built into the ThreadSanitizer
// target (VAE_TSAN, scripts/test.sh --tsan), which checks the calls share no unsynchronised state.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "infer/infer_util.h"
#include "vae/infer.h"
#include "vae/runtime.h"

namespace {

constexpr int kThreads = 8;
constexpr int kCallsPerThread = 60;

// One call of a kind on a batch: its inputs fixed by `index`, its outputs concatenated.
std::vector<float> one_call(const vae::Model& m, int index) {
  const size_t n = 1 + static_cast<size_t>(index * 7) % 23;  // 1..23 rows
  const std::vector<float> x =
      vae_test::infer_rows(n, 12, true, 100 + static_cast<uint64_t>(index));
  std::vector<float> out;
  switch (index % 4) {
    case 0: {
      std::vector<float> mu(n * 4), lv(n * 4);
      m.encode({x.data(), n, 12}, {mu.data(), n, 4}, {lv.data(), n, 4});
      out = mu;
      out.insert(out.end(), lv.begin(), lv.end());
      break;
    }
    case 1:
      out.resize(n * 12);
      m.reconstruct({x.data(), n, 12}, {out.data(), n, 12});
      break;
    case 2:
      out.resize(n * 12);
      m.sample(static_cast<uint64_t>(index), {out.data(), n, 12});
      break;
    default:
      out.resize(n);
      m.score({x.data(), n, 12}, {out.data(), n, 1});
      break;
  }
  return out;
}

TEST(InferThreads, EightThreadsOnOneModelGiveTheSerialResults) {
  vae::set_num_threads(1);  // one core per calling thread
  const vae::Model m(vae_test::infer_checkpoint(0, /*standardize=*/true));
  const int calls = kThreads * kCallsPerThread;
  std::vector<std::vector<float>> serial(calls);
  for (int i = 0; i < calls; ++i) serial[i] = one_call(m, i);

  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int c = 0; c < kCallsPerThread; ++c) {
        const int i = c * kThreads + t;  // threads interleave over the kinds of call
        if (one_call(m, i) != serial[i]) ++mismatches;
      }
    });
  for (std::thread& th : threads) th.join();
  std::printf("inference threads: %d threads, %d calls on one model, %d mismatches\n", kThreads,
              calls, mismatches.load());
  EXPECT_EQ(mismatches.load(), 0);
  vae::set_num_threads(0);
}

}  // namespace
