// The minibatcher (src/data/batcher.h): every epoch serves each row exactly once, with its own
// label, in an order that depends only on the RNG state; dynamic binarisation draws a fresh
// Bernoulli(x) per value each time a row is served.
#include "data/batcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace {

// N rows of D values; row i holds i·D .. i·D + D − 1 (so a row names itself), label i mod 7.
vae::Dataset numbered(size_t N, size_t D) {
  vae::Dataset d;
  d.n = N;
  d.d = D;
  d.x.resize(N * D);
  std::iota(d.x.begin(), d.x.end(), 0.0f);
  for (size_t i = 0; i < N; ++i) d.labels.push_back(static_cast<int32_t>(i % 7));
  return d;
}

// The rows one epoch serves, by their index, checking each row's values and label on the way.
std::vector<size_t> one_epoch(vae::Batcher& b, const vae::Dataset& d, vae::Rng& rng, int B,
                              std::vector<int>* sizes = nullptr) {
  std::vector<float> x(static_cast<size_t>(B) * d.d, -1.0f);
  std::vector<int32_t> y(static_cast<size_t>(B), -1);
  std::vector<size_t> served;
  b.start_epoch(rng);
  while (const int n = b.next(rng, x.data(), y.data())) {
    if (sizes) sizes->push_back(n);
    for (int r = 0; r < n; ++r) {
      const size_t i = static_cast<size_t>(x[r * d.d]) / d.d;
      for (size_t j = 0; j < d.d; ++j) EXPECT_EQ(x[r * d.d + j], d.x[i * d.d + j]) << "row " << i;
      EXPECT_EQ(y[r], d.labels[i]) << "row " << i << " came with another row's label";
      served.push_back(i);
    }
  }
  return served;
}

TEST(Batcher, EachEpochServesEveryRowOnceWithItsLabel) {
  const vae::Dataset d = numbered(23, 3);
  for (const int B : {1, 4, 23, 50}) {
    SCOPED_TRACE("batch " + std::to_string(B));
    vae::Batcher b(d, B, false);
    vae::Rng rng(5);
    std::vector<int> sizes;
    std::vector<size_t> served = one_epoch(b, d, rng, B, &sizes);
    // Full batches, then one short one holding the remainder; as many as batches_per_epoch says.
    EXPECT_EQ(sizes.size(), b.batches_per_epoch());
    EXPECT_EQ(sizes.size(), (23u + B - 1) / B);
    for (size_t k = 0; k + 1 < sizes.size(); ++k) EXPECT_EQ(sizes[k], B);
    EXPECT_EQ(sizes.back(), 23 - B * (static_cast<int>(sizes.size()) - 1));
    std::sort(served.begin(), served.end());
    std::vector<size_t> all(23);
    std::iota(all.begin(), all.end(), 0u);
    EXPECT_EQ(served, all) << "a row was repeated or dropped";
  }
}

TEST(Batcher, ShufflesAndTheOrderDependsOnlyOnTheRngState) {
  const vae::Dataset d = numbered(40, 2);
  vae::Batcher a(d, 8, false), b(d, 8, false);
  vae::Rng ra(11), rb(11);
  const std::vector<size_t> first = one_epoch(a, d, ra, 8);
  std::vector<size_t> identity(40);
  std::iota(identity.begin(), identity.end(), 0u);
  EXPECT_NE(first, identity) << "the epoch was not shuffled";
  const std::vector<size_t> second = one_epoch(a, d, ra, 8);
  EXPECT_NE(second, first) << "two epochs served the same order";
  // Another batcher whose RNG is in the state the first epoch began from serves the same order,
  // whatever came before it (a resumed run sees the batches of an uninterrupted one).
  one_epoch(b, d, rb, 8);  // b has now served an epoch too...
  vae::Rng replay(11);
  EXPECT_EQ(one_epoch(b, d, replay, 8), first) << "the order depends on more than the RNG state";
  EXPECT_EQ(one_epoch(b, d, rb, 8), second);
}

TEST(Batcher, NextAfterTheEpochEndsServesNothing) {
  const vae::Dataset d = numbered(5, 1);
  vae::Batcher b(d, 2, false);
  vae::Rng rng(1);
  std::vector<float> x(2);
  EXPECT_EQ(b.next(rng, x.data()), 0) << "rows served before the first epoch started";
  b.start_epoch(rng);
  EXPECT_EQ(b.next(rng, x.data()), 2);
  EXPECT_EQ(b.next(rng, x.data()), 2);
  EXPECT_EQ(b.next(rng, x.data()), 1);
  EXPECT_EQ(b.next(rng, x.data()), 0);
  EXPECT_EQ(b.next(rng, x.data()), 0);
}

TEST(Batcher, DynamicBinarisationDrawsBernoulliOfEachValueAfresh) {
  // One row of values 0, 0.25, 0.5, 0.75, 1, served many times: each served value is 0 or 1,
  // its mean is the value (within 4 standard errors), and two servings of a row differ.
  vae::Dataset d;
  d.n = 1;
  d.d = 5;
  d.x = {0.0f, 0.25f, 0.5f, 0.75f, 1.0f};
  vae::Batcher b(d, 1, true);
  vae::Rng rng(3);
  const int kDraws = 20000;
  std::vector<double> mean(5, 0.0);
  std::vector<float> x(5), previous(5);
  int changed = 0;
  for (int t = 0; t < kDraws; ++t) {
    b.start_epoch(rng);
    ASSERT_EQ(b.next(rng, x.data()), 1);
    for (int j = 0; j < 5; ++j) {
      ASSERT_TRUE(x[j] == 0.0f || x[j] == 1.0f) << x[j];
      mean[j] += x[j];
    }
    if (t > 0 && x != previous) ++changed;
    previous = x;
  }
  for (double& m : mean) m /= kDraws;
  for (int j = 0; j < 5; ++j) {
    const double p = d.x[j], se = std::sqrt(p * (1 - p) / kDraws);
    EXPECT_NEAR(mean[j], p, 4 * se + 1e-12) << "value " << p;
  }
  EXPECT_GT(changed, kDraws / 2) << "the binarisation was not redrawn per serving";
  EXPECT_EQ(d.x[1], 0.25f) << "the data set itself was changed";
}

TEST(Batcher, BinarizeOnceIsFixedBySeed) {
  vae::Dataset d = numbered(10, 4);
  for (float& v : d.x) v = std::fmod(v, 10.0f) / 10.0f;  // values in [0, 0.9]
  const vae::Dataset a = vae::binarize(d, vae::kTestBinarizeSeed);
  const vae::Dataset b = vae::binarize(d, vae::kTestBinarizeSeed);
  const vae::Dataset c = vae::binarize(d, 7);
  EXPECT_EQ(a.x, b.x);
  EXPECT_NE(a.x, c.x);
  EXPECT_EQ(a.labels, d.labels);
  for (size_t i = 0; i < a.x.size(); ++i) {
    EXPECT_TRUE(a.x[i] == 0.0f || a.x[i] == 1.0f);
    if (d.x[i] == 0.0f) {
      EXPECT_EQ(a.x[i], 0.0f) << "a zero became one";
    }
  }
}

}  // namespace
