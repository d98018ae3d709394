// The terms of the negative ELBO: golden values computed by hand and gradient checks.
#include "vae/losses.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "gradcheck.h"

namespace {

using vae_test::check_gradient;
using vae_test::fill_uniform;

TEST(GaussianKl, GoldenValues) {
  // KL(N(μ, σ²) ‖ N(0, 1)) = ½ (σ² + μ² − 1 − ln σ²)
  //  μ = 0, σ² = 1:        0
  //  μ = 1, σ² = 1:        ½
  //  μ = 0, σ² = e:        ½ (e − 1 − 1) = (e − 2)/2
  //  μ = 2, log σ² = −1:   ½ (e⁻¹ + 4 − 1 + 1) = ½ (e⁻¹ + 4)
  const double mu[] = {0, 1, 0, 2};
  const double lv[] = {0, 0, 1, -1};
  double rows[4];
  for (int i = 0; i < 4; ++i) vae::gaussian_kl_forward(&rows[i], &mu[i], &lv[i], 1, 1);
  EXPECT_DOUBLE_EQ(rows[0], 0.0);
  EXPECT_DOUBLE_EQ(rows[1], 0.5);
  EXPECT_NEAR(rows[2], (std::exp(1.0) - 2) / 2, 1e-15);
  EXPECT_NEAR(rows[3], 0.5 * (std::exp(-1.0) + 4), 1e-15);
  // Summed over dimensions per row, and over rows in the return value: two rows of two dims.
  double two[2];
  const double total = vae::gaussian_kl_forward(two, mu, lv, 2, 2);
  EXPECT_NEAR(two[0], rows[0] + rows[1], 1e-15);
  EXPECT_NEAR(two[1], rows[2] + rows[3], 1e-15);
  EXPECT_NEAR(total, rows[0] + rows[1] + rows[2] + rows[3], 1e-15);
}

TEST(BernoulliNll, MatchesDirectFormula) {
  // −[x log σ(l) + (1 − x) log(1 − σ(l))] for moderate logits, where the direct formula is exact.
  const double l[] = {-3.0, -0.5, 0.0, 0.7, 4.0, 2.0};
  const double x[] = {0.0, 1.0, 0.3, 0.5, 1.0, 0.0};
  for (int i = 0; i < 6; ++i) {
    const double p = 1 / (1 + std::exp(-l[i]));
    const double direct = -(x[i] * std::log(p) + (1 - x[i]) * std::log(1 - p));
    double row;
    vae::bernoulli_nll_forward(&row, &l[i], &x[i], 1, 1);
    EXPECT_NEAR(row, direct, 1e-13) << "l=" << l[i] << " x=" << x[i];
  }
  // l = 0 gives log 2 whatever x is.
  double row;
  const double zero = 0, half = 0.5;
  vae::bernoulli_nll_forward(&row, &zero, &half, 1, 1);
  EXPECT_DOUBLE_EQ(row, std::log(2.0));
}

TEST(BernoulliNll, StableForExtremeLogits) {
  // Sigmoid-then-log would give log(0) = −inf here; softplus(l) − x·l stays exact.
  const float l[] = {-120.f, 120.f, -120.f, 120.f};
  const float x[] = {0.f, 1.f, 1.f, 0.f};
  float rows[4];
  for (int i = 0; i < 4; ++i) vae::bernoulli_nll_forward(&rows[i], &l[i], &x[i], 1, 1);
  EXPECT_NEAR(rows[0], 0.f, 1e-6f);
  EXPECT_NEAR(rows[1], 0.f, 1e-6f);
  EXPECT_NEAR(rows[2], 120.f, 1e-4f);
  EXPECT_NEAR(rows[3], 120.f, 1e-4f);
  float d[4] = {0, 0, 0, 0};
  vae::bernoulli_nll_backward(d, l, x, 1.0f, 4);
  for (float v : d) EXPECT_TRUE(std::isfinite(v));
  EXPECT_NEAR(d[2], -1.f, 1e-6f);
}

TEST(BernoulliNll, GradientMatchesFiniteDifferences) {
  const int B = 3, D = 7;
  vae::Rng rng(4);
  std::vector<double> l(B * D), x(B * D);
  fill_uniform(l, rng, -4, 4);
  fill_uniform(x, rng, 0, 1);
  const double scale = 0.37;
  auto loss = [&] { return scale * vae::bernoulli_nll_forward<double>(nullptr, l.data(), x.data(), B, D); };
  std::vector<double> dl(B * D, 2.0);
  vae::bernoulli_nll_backward(dl.data(), l.data(), x.data(), scale, l.size());
  for (double& v : dl) v -= 2.0;
  check_gradient("dlogits", l.data(), dl.data(), l.size(), loss);
}

TEST(GaussianKl, GradientMatchesFiniteDifferences) {
  const int B = 3, Z = 4;
  vae::Rng rng(5);
  std::vector<double> mu(B * Z), lv(B * Z);
  fill_uniform(mu, rng, -2, 2);
  fill_uniform(lv, rng, -3, 1);
  const double scale = 0.5;
  auto loss = [&] { return scale * vae::gaussian_kl_forward<double>(nullptr, mu.data(), lv.data(), B, Z); };
  std::vector<double> dmu(B * Z, -1.0), dlv(B * Z, -1.0);
  vae::gaussian_kl_backward(dmu.data(), dlv.data(), mu.data(), lv.data(), scale, mu.size());
  for (double& v : dmu) v += 1.0;
  for (double& v : dlv) v += 1.0;
  check_gradient("dmu", mu.data(), dmu.data(), mu.size(), loss);
  check_gradient("dlogvar", lv.data(), dlv.data(), lv.size(), loss);
}

TEST(Reparam, ForwardAndGradientWithPinnedEps) {
  const size_t n = 10;
  vae::Rng rng(6);
  std::vector<double> mu(n), lv(n), eps(n), z(n), r(n);
  fill_uniform(mu, rng);
  fill_uniform(lv, rng, -2, 1);
  rng.normal_fill(eps.data(), n);
  fill_uniform(r, rng);
  vae::reparam_forward(z.data(), mu.data(), lv.data(), eps.data(), n);
  for (size_t i = 0; i < n; ++i) EXPECT_NEAR(z[i], mu[i] + std::exp(0.5 * lv[i]) * eps[i], 1e-15);
  // ε stays fixed while μ and log σ² move: the gradient is taken through the sample.
  auto loss = [&] {
    vae::reparam_forward(z.data(), mu.data(), lv.data(), eps.data(), n);
    return vae_test::dot(r, z.data());
  };
  std::vector<double> dmu(n, 0.5), dlv(n, 0.5);
  vae::reparam_backward(dmu.data(), dlv.data(), r.data(), lv.data(), eps.data(), n);
  for (double& v : dmu) v -= 0.5;
  for (double& v : dlv) v -= 0.5;
  check_gradient("dmu", mu.data(), dmu.data(), n, loss);
  check_gradient("dlogvar", lv.data(), dlv.data(), n, loss);
}

TEST(GaussianNll, GoldenValuesIncludeTheConstants) {
  // One dimension, x = m: −log N(m; m, σ²) = log σ + ½ log 2π. σ = 1: 0.918938533204672742.
  const double m = 0.3, x = 0.3;
  double row;
  vae::gaussian_nll_forward(&row, &m, &x, 1.0, 1, 1);
  EXPECT_NEAR(row, 0.918938533204672742, 1e-15);
  vae::gaussian_nll_forward(&row, &m, &x, 2.0, 1, 1);
  EXPECT_NEAR(row, std::log(2.0) + 0.918938533204672742, 1e-15);
  // x − m = 1.5, σ = 0.5: ½·9 + log 0.5 + ½ log 2π; two dimensions add.
  const double m2[] = {0.0, 0.3}, x2[] = {1.5, 0.3};
  vae::gaussian_nll_forward(&row, m2, x2, 0.5, 1, 2);
  EXPECT_NEAR(row, 4.5 + 2 * (std::log(0.5) + 0.918938533204672742), 1e-14);
}

TEST(GaussianNll, GradientMatchesFiniteDifferences) {
  const int B = 3, D = 5;
  vae::Rng rng(8);
  std::vector<double> m(B * D), x(B * D);
  fill_uniform(m, rng, -2, 2);
  fill_uniform(x, rng, -2, 2);
  const double sigma = 0.6, scale = 0.25;
  auto loss = [&] { return scale * vae::gaussian_nll_forward<double>(nullptr, m.data(), x.data(), sigma, B, D); };
  std::vector<double> dm(B * D, 3.0);
  vae::gaussian_nll_backward(dm.data(), m.data(), x.data(), sigma, scale, m.size());
  for (double& v : dm) v -= 3.0;
  check_gradient("dmean", m.data(), dm.data(), m.size(), loss);
}

TEST(Sigmoid, SymmetricAndSaturatesWithoutOverflow) {
  const double l[] = {-800, -1, 0, 1, 800};
  double y[5];
  vae::sigmoid_forward(y, l, 5);
  EXPECT_EQ(y[0], 0.0);
  EXPECT_NEAR(y[1], 1 - y[3], 1e-15);
  EXPECT_EQ(y[2], 0.5);
  EXPECT_EQ(y[4], 1.0);
}

}  // namespace
