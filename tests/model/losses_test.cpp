// The terms of the negative ELBO: golden values computed by hand and gradient checks.
#include "model/losses.h"

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

TEST(GaussianLearnedNll, GoldenValuesAndAgreementWithFixedSigma) {
  // log σ = log 2 in every dimension gives the fixed-σ = 2 values exactly.
  const int B = 2, D = 3;
  const double m[] = {0.1, -0.4, 2.0, 0.0, 0.5, 1.0}, x[] = {0.3, 0.3, 0.3, -1.0, 0.5, 4.0};
  const double s2[] = {std::log(2.0), std::log(2.0), std::log(2.0)};
  double rows_learned[2], rows_fixed[2];
  const double total = vae::gaussian_learned_nll_forward(rows_learned, m, s2, x, B, D);
  vae::gaussian_nll_forward(rows_fixed, m, x, 2.0, B, D);
  EXPECT_NEAR(rows_learned[0], rows_fixed[0], 1e-14);
  EXPECT_NEAR(rows_learned[1], rows_fixed[1], 1e-14);
  EXPECT_NEAR(total, rows_fixed[0] + rows_fixed[1], 1e-13);
  // By hand, one dimension: x − m = 1, log σ = −1: ½·1·e² − 1 + ½ log 2π.
  const double m1 = 0.0, x1 = 1.0, s1 = -1.0;
  double row;
  vae::gaussian_learned_nll_forward(&row, &m1, &s1, &x1, 1, 1);
  EXPECT_NEAR(row, 0.5 * std::exp(2.0) - 1.0 + 0.918938533204672742, 1e-14);
}

TEST(GaussianLearnedNll, GradientMatchesFiniteDifferencesForMeanAndLogSigma) {
  const int B = 3, D = 4;
  vae::Rng rng(18);
  std::vector<double> m(B * D), x(B * D), s(D);
  fill_uniform(m, rng, -2, 2);
  fill_uniform(x, rng, -2, 2);
  fill_uniform(s, rng, -1, 1);
  const double scale = 0.4;
  auto loss = [&] {
    return scale * vae::gaussian_learned_nll_forward<double>(nullptr, m.data(), s.data(), x.data(), B, D);
  };
  std::vector<double> dm(B * D, 1.5), ds(D, -2.0);  // prefilled: backward must add
  vae::gaussian_learned_nll_backward(dm.data(), ds.data(), m.data(), s.data(), x.data(), scale, B, D);
  for (double& v : dm) v -= 1.5;
  for (double& v : ds) v += 2.0;
  check_gradient("dmean", m.data(), dm.data(), m.size(), loss);
  check_gradient("dlogsigma", s.data(), ds.data(), s.size(), loss);
}

TEST(GaussianKlSample, GoldenValueAndUnbiasedness) {
  // μ = 0.5, log σ² = log 0.25 (σ = 0.5), ε = 2: z = 1.5; KL̂ = ½(2.25 − 4 − log 0.25).
  const double mu = 0.5, lv = std::log(0.25), eps = 2.0;
  double z;
  vae::reparam_forward(&z, &mu, &lv, &eps, 1);
  double row;
  vae::gaussian_kl_sample_forward(&row, &z, &eps, &lv, 1, 1);
  EXPECT_NEAR(row, 0.5 * (2.25 - 4.0 - std::log(0.25)), 1e-15);
  // The mean over many ε is the closed-form KL (within 4 standard errors).
  vae::Rng rng(3);
  const int n = 200000;
  double sum = 0, sum_sq = 0;
  for (int i = 0; i < n; ++i) {
    double e, zi, k;
    rng.normal_fill(&e, 1);
    vae::reparam_forward(&zi, &mu, &lv, &e, 1);
    vae::gaussian_kl_sample_forward(&k, &zi, &e, &lv, 1, 1);
    sum += k;
    sum_sq += k * k;
  }
  const double mean = sum / n, se = std::sqrt((sum_sq / n - mean * mean) / n);
  const double exact = vae::gaussian_kl_forward<double>(nullptr, &mu, &lv, 1, 1);
  EXPECT_LT(std::fabs(mean - exact), 4 * se) << mean << " vs " << exact;
}

TEST(GaussianKlSample, GradientThroughTheReparameterisation) {
  // KL̂(μ, log σ²) with ε fixed: dz from gaussian_kl_sample_backward, carried to μ and log σ²
  // by reparam_backward, plus the direct −½ on log σ².
  const int B = 2, Z = 3, n = B * Z;
  vae::Rng rng(5);
  std::vector<double> mu(n), lv(n), eps(n), z(n);
  fill_uniform(mu, rng, -1, 1);
  fill_uniform(lv, rng, -1, 1);
  rng.normal_fill(eps.data(), n);
  const double scale = 0.7;
  auto loss = [&] {
    vae::reparam_forward(z.data(), mu.data(), lv.data(), eps.data(), n);
    return scale * vae::gaussian_kl_sample_forward<double>(nullptr, z.data(), eps.data(), lv.data(), B, Z);
  };
  loss();
  std::vector<double> dz(n, 0.0), dmu(n, 0.0), dlv(n, 0.0);
  vae::gaussian_kl_sample_backward(dz.data(), dlv.data(), z.data(), scale, n);
  vae::reparam_backward(dmu.data(), dlv.data(), dz.data(), lv.data(), eps.data(), n);
  check_gradient("dmu", mu.data(), dmu.data(), n, loss);
  check_gradient("dlogvar", lv.data(), dlv.data(), n, loss);
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
