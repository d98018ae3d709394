// Every kernel table this CPU runs (core/kernels.h) against the reference loops (the formulas
// written out here in float, element by element: to a float's rounding, as this file may be
// compiled with contraction into FMA; the likelihoods' against the double versions of
// model/losses.h), and against each other exactly (the tables are compiled without contraction
// and perform the same operations in the same order).
#include "core/kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "model/losses.h"
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

std::vector<double> widened(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// Logits over the whole range the likelihood sees: random in [−30, 30], then the edges (0, ±0,
// large of either sign, past exp's −87.3 flush) at the front.
std::vector<float> test_logits() {
  auto l = random_floats(kN, 13, -30, 30);
  const float edges[] = {0.0f, -0.0f, 1e-8f, -1e-8f, 88.0f, -88.0f, 200.0f, -200.0f, 1e4f, -1e4f};
  std::copy(std::begin(edges), std::end(edges), l.begin());
  return l;
}

TEST(Kernels, BernoulliMatchesTheReferenceOnEveryTable) {
  const auto l = test_logits(), x = random_floats(kN, 14, 0, 1);
  const auto ld = widened(l), xd = widened(x);
  double scale_of_sum = 0;  // Σ |terms|: what a float's rounding of each term is relative to
  for (size_t i = 0; i < kN; ++i)
    scale_of_sum += std::fabs(vae::bernoulli_nll_forward<double>(nullptr, &ld[i], &xd[i], 1, 1));
  const double ref_row = vae::bernoulli_nll_forward<double>(nullptr, ld.data(), xd.data(), 1, kN);
  std::vector<double> ref_dl(kN, 0.25), ref_y(kN);
  vae::bernoulli_nll_backward<double>(ref_dl.data(), ld.data(), xd.data(), 0.5, kN);
  vae::sigmoid_forward<double>(ref_y.data(), ld.data(), kN);
  for (const Table* t : vae::kernels::supported()) {
    // Float sums of ~63 terms per lane: a few float roundings of Σ |terms| (ε = 6e-8).
    EXPECT_NEAR(t->bernoulli_nll_row(l.data(), x.data(), kN), ref_row, 2e-6 * scale_of_sum)
        << t->isa;
    // A row shorter than the 16 lanes: the tail alone.
    EXPECT_NEAR(t->bernoulli_nll_row(l.data() + 20, x.data() + 20, 7),
                vae::bernoulli_nll_forward<double>(nullptr, &ld[20], &xd[20], 1, 7), 1e-4)
        << t->isa;
    std::vector<float> dl(kN, 0.25f), y(kN, -1.0f);
    t->bernoulli_nll_backward(dl.data(), l.data(), x.data(), 0.5f, kN);
    t->sigmoid(y.data(), l.data(), kN);
    for (size_t i = 0; i < kN; ++i) {
      ASSERT_NEAR(dl[i], ref_dl[i], 3e-7) << t->isa << " dlogits " << i << " at l = " << l[i];
      ASSERT_NEAR(y[i], ref_y[i], 3e-7) << t->isa << " sigmoid " << i << " at l = " << l[i];
    }
    std::vector<float> alias = l;  // y may alias l
    t->sigmoid(alias.data(), alias.data(), kN);
    ASSERT_EQ(std::memcmp(alias.data(), y.data(), kN * sizeof(float)), 0) << t->isa;
  }
}

TEST(Kernels, SquaredErrorMatchesTheReferenceOnEveryTable) {
  const auto m = random_floats(kN, 15, -3, 3), x = random_floats(kN, 16, -3, 3);
  const auto md = widened(m), xd = widened(x);
  // The fixed-σ Gaussian at σ² = ½: its NLL row is Σ (x − m)² + D(log σ + ½ log 2π).
  const double sigma = std::sqrt(0.5), constant = kN * (std::log(sigma) + vae::kHalfLog2Pi);
  const double ref_sq =
      vae::gaussian_nll_forward<double>(nullptr, md.data(), xd.data(), sigma, 1, kN) - constant;
  std::vector<double> ref_dm(kN, 0.25);
  vae::gaussian_nll_backward<double>(ref_dm.data(), md.data(), xd.data(), sigma, 0.5, kN);
  for (const Table* t : vae::kernels::supported()) {
    EXPECT_NEAR(t->squared_error_row(m.data(), x.data(), kN), ref_sq, 2e-6 * ref_sq) << t->isa;
    std::vector<float> dm(kN, 0.25f);
    t->squared_error_backward(dm.data(), m.data(), x.data(), 1.0f, kN);  // k = scale / σ² = 1
    for (size_t i = 0; i < kN; ++i) ASSERT_NEAR(dm[i], ref_dm[i], 1e-6) << t->isa << " dmean " << i;
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
  // The likelihoods' loops, each output appended to `outputs` of its table.
  const auto l = test_logits(), x = random_floats(kN, 17, 0, 1);
  std::vector<std::vector<float>> outputs;
  for (const Table* t : tables) {
    std::vector<float> out(3 * kN + 2, 0.5f);
    out[0] = t->bernoulli_nll_row(l.data(), x.data(), kN);
    out[1] = t->squared_error_row(l.data(), x.data(), kN);
    t->bernoulli_nll_backward(&out[2], l.data(), x.data(), 0.125f, kN);
    t->sigmoid(&out[2 + kN], l.data(), kN);
    t->squared_error_backward(&out[2 + 2 * kN], l.data(), x.data(), 3.0f, kN);
    outputs.push_back(out);
  }
  for (size_t k = 1; k < tables.size(); ++k) {
    EXPECT_EQ(sums[2 * k], sums[0]) << tables[k]->isa;
    EXPECT_EQ(sums[2 * k + 1], sums[1]) << tables[k]->isa;
    EXPECT_EQ(std::memcmp(params[k].data(), params[0].data(), kN * sizeof(float)), 0)
        << tables[k]->isa;
    EXPECT_EQ(std::memcmp(outputs[k].data(), outputs[0].data(), outputs[0].size() * sizeof(float)),
              0)
        << tables[k]->isa << " likelihood loops";
  }
}

}  // namespace
