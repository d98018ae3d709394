#include "vae/rng.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

TEST(Rng, SameSeedSameStream) {
  vae::Rng a(42), b(42), c(43);
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.next();
    EXPECT_EQ(x, b.next());
    EXPECT_NE(x, c.next());
  }
}

TEST(Rng, RestoredStateContinuesTheStream) {
  vae::Rng a(5);
  for (int i = 0; i < 17; ++i) a.next();
  vae::Rng b(999);
  b.set_state(a.state());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next(), b.next());
}

TEST(Rng, NormalDrawsHaveUnitMoments) {
  vae::Rng rng(3);
  std::vector<double> z(200001);  // odd length: the last pair is cut
  rng.normal_fill(z.data(), z.size());
  double m = 0, v = 0;
  for (double x : z) m += x;
  m /= z.size();
  for (double x : z) v += (x - m) * (x - m);
  v /= z.size();
  // Standard errors: 1/√n ≈ 0.0022 for the mean, √(2/n) ≈ 0.0032 for the variance.
  EXPECT_NEAR(m, 0.0, 0.01);
  EXPECT_NEAR(v, 1.0, 0.015);
}

TEST(Rng, UniformAndBelowStayInRange) {
  vae::Rng rng(11);
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 70000; ++i) {
    const float u = rng.uniform_float();
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    ++counts[rng.below(7)];
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);
}
