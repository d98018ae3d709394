// Every kernel table this CPU runs (core/kernels.h) against the reference loops (the formulas
// written out here in float, element by element: to a float's rounding, as this file may be
// compiled with contraction into FMA), and against each other exactly (the tables are compiled
// without contraction and perform the same operations in the same order).
#include "core/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "vae/rng.h"

namespace {

using vae::kernels::Table;

std::vector<float> random_floats(size_t n, uint64_t seed, float lo, float hi) {
  vae::Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = lo + (hi - lo) * rng.uniform_float();
  return v;
}

// n = 1000: 31 full blocks of 32 and a tail of 8 (the blocked and the leftover paths).
constexpr size_t kN = 1000;

TEST(Kernels, BaselineIsAlwaysSupportedAndBestIsTheWidest) {
  const auto tables = vae::kernels::supported();
  ASSERT_FALSE(tables.empty());
  EXPECT_STREQ(tables.front()->isa, "baseline");
  EXPECT_EQ(&vae::kernels::best(), tables.back());
}

TEST(Kernels, AdamReducedMatchesTheReferenceOnEveryTable) {
  // decay 0.99: AdamW's weight decay (1 − lr·λ) is part of the step.
  const vae::kernels::AdamStep s{0.9f, 0.999f, 1e-8f, 1e-3f / 0.1f, 1.0f / std::sqrt(0.001f), 0.99f};
  const float weights[2] = {0.25f, 0.75f};
  for (const Table* t : vae::kernels::supported()) {
    auto p = random_floats(kN, 1, -1, 1), m = random_floats(kN, 2, -0.1f, 0.1f);
    auto v = random_floats(kN, 3, 0, 0.01f);
    auto g0 = random_floats(kN, 4, -1, 1), g1 = random_floats(kN, 5, -1, 1);
    auto rp = p, rm = m, rv = v;
    double ref_sq = 0;
    for (size_t i = 0; i < kN; ++i) {
      const float g = weights[0] * g0[i] + weights[1] * g1[i];
      ref_sq += static_cast<double>(g) * g;
      rm[i] = s.b1 * rm[i] + (1.0f - s.b1) * g;
      rv[i] = s.b2 * rv[i] + (1.0f - s.b2) * g * g;
      rp[i] = rp[i] * s.decay - s.step_size * rm[i] / (std::sqrt(rv[i]) * s.inv_sqrt_bc2 + s.eps);
    }
    float* grads[2] = {g0.data(), g1.data()};
    const double sq = t->adam_reduced(s, p.data(), m.data(), v.data(), grads, weights, 2, 0, kN, true);
    EXPECT_NEAR(sq, ref_sq, 1e-9 * ref_sq) << t->isa;
    for (size_t i = 0; i < kN; ++i) {
      ASSERT_NEAR(p[i], rp[i], 1e-6f) << t->isa << " param " << i;
      ASSERT_NEAR(m[i], rm[i], 1e-7f) << t->isa << " m " << i;
      ASSERT_NEAR(v[i], rv[i], 1e-8f) << t->isa << " v " << i;
      ASSERT_EQ(g0[i], 0.0f) << t->isa << " gradients zeroed";
      ASSERT_EQ(g1[i], 0.0f) << t->isa;
    }
  }
}

TEST(Kernels, SumSquaresAndReluMatchTheReferenceOnEveryTable) {
  const auto a = random_floats(kN, 6, -1, 1), dy = random_floats(kN, 7, -1, 1);
  double ref_sq = 0;
  for (float x : a) ref_sq += static_cast<double>(x) * x;
  for (const Table* t : vae::kernels::supported()) {
    EXPECT_NEAR(t->sum_squares(a.data(), kN), ref_sq, 1e-12 * ref_sq) << t->isa;
    std::vector<float> y(kN, -5.0f), da(kN, 0.5f);
    t->relu_forward(y.data(), a.data(), kN);
    t->relu_backward(da.data(), dy.data(), a.data(), kN);
    for (size_t i = 0; i < kN; ++i) {
      ASSERT_EQ(y[i], a[i] > 0 ? a[i] : 0.0f) << t->isa << " at " << i;
      ASSERT_EQ(da[i], 0.5f + (a[i] > 0 ? dy[i] : 0.0f)) << t->isa << " at " << i;
    }
  }
}

// The tables agree with each other bit for bit (fixed lane order, no contraction).
TEST(Kernels, TablesAgreeExactly) {
  const auto tables = vae::kernels::supported();
  const vae::kernels::AdamStep s{0.9f, 0.999f, 1e-8f, 2e-3f, 3.0f};
  std::vector<std::vector<float>> params;
  std::vector<double> sums;
  for (const Table* t : tables) {
    auto p = random_floats(kN, 9, -1, 1), m = random_floats(kN, 10, -0.1f, 0.1f);
    auto v = random_floats(kN, 11, 0, 0.01f), g = random_floats(kN, 12, -3, 3);
    const float w = 1.0f;
    float* grads[1] = {g.data()};
    sums.push_back(t->sum_squares(g.data(), kN));
    sums.push_back(t->adam_reduced(s, p.data(), m.data(), v.data(), grads, &w, 1, 3, kN, false));
    params.push_back(p);
  }
  for (size_t k = 1; k < tables.size(); ++k) {
    EXPECT_EQ(sums[2 * k], sums[0]) << tables[k]->isa;
    EXPECT_EQ(sums[2 * k + 1], sums[1]) << tables[k]->isa;
    EXPECT_EQ(std::memcmp(params[k].data(), params[0].data(), kN * sizeof(float)), 0)
        << tables[k]->isa;
  }
}

}  // namespace
