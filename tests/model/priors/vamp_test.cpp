// The VampPrior's log-density and gradient (src/model/priors/vamp.cpp): finite differences in
// double for z, the components' μ and log σ² (the pseudo-inputs' encodings), the accumulate
// rule, exact values where the mixture collapses to one Gaussian, a two-component value written
// out by hand, far-away z without overflow, many rows and narrow components against the
// definition, and float against double.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "gradcheck.h"
#include "model/priors/vamp.h"

namespace {

constexpr double kLog2Pi = 1.8378770664093454835606594728112;

struct Mixture {
  int B, K, Z;
  std::vector<double> z, mu, logvar;
};

Mixture random_mixture(int B, int K, int Z, uint64_t seed) {
  Mixture m{B, K, Z, std::vector<double>(B * Z), std::vector<double>(K * Z),
            std::vector<double>(K * Z)};
  vae::Rng rng(seed);
  vae_test::fill_uniform(m.z, rng, -2, 2);
  vae_test::fill_uniform(m.mu, rng, -1.5, 1.5);
  vae_test::fill_uniform(m.logvar, rng, -1, 0.8);
  return m;
}

double log_prior_sum(Mixture& m, std::vector<double>* logp = nullptr) {
  std::vector<double> rows(m.B), resp(m.B * m.K);
  const double s = vae::vamp_log_prior_forward(rows.data(), resp.data(), m.z.data(), m.mu.data(),
                                               m.logvar.data(), m.B, m.K, m.Z);
  if (logp) *logp = rows;
  return s;
}

TEST(VampPrior, GradientMatchesFiniteDifferencesAndAccumulates) {
  Mixture m = random_mixture(3, 4, 2, 11);
  vae::Rng rng(12);
  std::vector<double> w(m.B);  // dlogp: L = Σ_b w_b log p(z_b)
  vae_test::fill_uniform(w, rng);
  auto loss = [&] {
    std::vector<double> rows;
    log_prior_sum(m, &rows);
    return vae_test::dot(w, rows.data());
  };
  std::vector<double> rows(m.B), resp(m.B * m.K);
  vae::vamp_log_prior_forward(rows.data(), resp.data(), m.z.data(), m.mu.data(), m.logvar.data(),
                              m.B, m.K, m.Z);
  const double s = 0.5;  // sentinel: backward adds to what is there
  std::vector<double> dz(m.z.size(), s), dmu(m.mu.size(), s), dlv(m.logvar.size(), s);
  vae::vamp_log_prior_backward(dz.data(), dmu.data(), dlv.data(), w.data(), resp.data(),
                               m.z.data(), m.mu.data(), m.logvar.data(), m.B, m.K, m.Z);
  for (auto* g : {&dz, &dmu, &dlv})
    for (double& v : *g) v -= s;
  vae_test::check_gradient("dz", m.z.data(), dz.data(), dz.size(), loss);
  vae_test::check_gradient("dmu", m.mu.data(), dmu.data(), dmu.size(), loss);
  vae_test::check_gradient("dlogvar", m.logvar.data(), dlv.data(), dlv.size(), loss);
}

// Every component the same N(μ, σ²): the mixture is that Gaussian, for any K.
TEST(VampPrior, IdenticalComponentsGiveThatGaussianExactly) {
  const int B = 4, Z = 3;
  Mixture one = random_mixture(B, 1, Z, 21);
  for (int K : {1, 2, 7}) {
    Mixture m = one;
    m.K = K;
    m.mu.clear();
    m.logvar.clear();
    for (int k = 0; k < K; ++k) {
      m.mu.insert(m.mu.end(), one.mu.begin(), one.mu.end());
      m.logvar.insert(m.logvar.end(), one.logvar.begin(), one.logvar.end());
    }
    std::vector<double> rows;
    log_prior_sum(m, &rows);
    for (int b = 0; b < B; ++b) {
      double expected = 0;  // log N(z_b; μ, σ²) written out
      for (int j = 0; j < Z; ++j) {
        const double d = m.z[b * Z + j] - one.mu[j], var = std::exp(one.logvar[j]);
        expected += -0.5 * (kLog2Pi + std::log(var) + d * d / var);
      }
      EXPECT_NEAR(rows[b], expected, 1e-12) << "K=" << K << " row " << b;
    }
  }
}

// μ_k = 0, log σ²_k = 0 for all k: the standard prior, value and gradient in z.
TEST(VampPrior, StandardComponentsGiveTheStandardPrior) {
  Mixture m = random_mixture(3, 5, 2, 31);
  std::fill(m.mu.begin(), m.mu.end(), 0.0);
  std::fill(m.logvar.begin(), m.logvar.end(), 0.0);
  std::vector<double> vamp(m.B), standard(m.B), resp(m.B * m.K), w = {0.3, -1.2, 0.7};
  const double sv = vae::vamp_log_prior_forward(vamp.data(), resp.data(), m.z.data(), m.mu.data(),
                                                m.logvar.data(), m.B, m.K, m.Z);
  const double ss = vae::standard_log_prior_forward(standard.data(), m.z.data(), m.B, m.Z);
  EXPECT_NEAR(sv, ss, 1e-12);
  for (int b = 0; b < m.B; ++b) EXPECT_NEAR(vamp[b], standard[b], 1e-12);
  std::vector<double> dz_vamp(m.z.size()), dz_std(m.z.size());
  vae::vamp_log_prior_backward<double>(dz_vamp.data(), nullptr, nullptr, w.data(),
                                       resp.data(), m.z.data(), m.mu.data(), m.logvar.data(),
                                       m.B, m.K, m.Z);
  vae::standard_log_prior_backward(dz_std.data(), w.data(), m.z.data(), m.B, m.Z);
  for (size_t i = 0; i < dz_std.size(); ++i) {
    EXPECT_NEAR(dz_vamp[i], dz_std[i], 1e-12);
    EXPECT_DOUBLE_EQ(dz_std[i], -w[i / m.Z] * m.z[i]);
  }
}

// Z = 1, K = 2: p(z) = ½ (N(z; 0, 1) + N(z; 1, 4)) at z = 0.5, by hand.
TEST(VampPrior, TwoComponentsByHand) {
  Mixture m{1, 2, 1, {0.5}, {0.0, 1.0}, {0.0, std::log(4.0)}};
  const double n1 = std::exp(-0.5 * 0.25) / std::sqrt(2 * M_PI);
  const double n2 = std::exp(-0.5 * 0.25 / 4) / std::sqrt(2 * M_PI * 4);
  EXPECT_NEAR(log_prior_sum(m), std::log(0.5 * (n1 + n2)), 1e-14);
}

// z far from every component: each ℓ_k near −10⁴, whose exp underflows; the log-sum-exp does not.
TEST(VampPrior, FarAwayZStaysFiniteAndMatchesTheNearestComponent) {
  Mixture m{1, 2, 1, {150.0}, {0.0, 10.0}, {0.0, 0.0}};
  const double nearest = -0.5 * (kLog2Pi + 140.0 * 140.0);
  // log(½ (e^a + e^b)) with a − b = −1450: the nearest component b alone, less log 2.
  EXPECT_NEAR(log_prior_sum(m), nearest - std::log(2.0), 1e-9);
}

// The log-densities and the gradient come from products (the square expanded). Held to the
// definition summed term by term, over more rows than a block (the last block short), with
// narrow components (σ down to e^−4.5) whose centres lie near some z, where the expanded terms
// are ~10³ times the result; the responsibilities sum to 1, and without them logp is the same.
TEST(VampPrior, ManyRowsMatchTheDirectSumIncludingNarrowComponents) {
  const int B = 150, K = 9, Z = 4;
  Mixture m = random_mixture(B, K, Z, 51);
  for (int k = 0; k < K; k += 2)
    for (int j = 0; j < Z; ++j) {
      m.logvar[k * Z + j] = -9.0 + 0.5 * j;
      m.mu[k * Z + j] = m.z[(7 * k) * Z + j] + 1e-3 * (j + 1);  // beside row 7k's z
    }
  std::vector<double> rows(B), resp(B * K), rows_alone(B);
  vae::vamp_log_prior_forward(rows.data(), resp.data(), m.z.data(), m.mu.data(), m.logvar.data(),
                              B, K, Z);
  vae::vamp_log_prior_forward(rows_alone.data(), static_cast<double*>(nullptr), m.z.data(),
                              m.mu.data(), m.logvar.data(), B, K, Z);
  for (int b = 0; b < B; ++b) {
    std::vector<double> ell(K);
    for (int k = 0; k < K; ++k)
      for (int j = 0; j < Z; ++j) {
        const double d = m.z[b * Z + j] - m.mu[k * Z + j], lv = m.logvar[k * Z + j];
        ell[k] += -0.5 * (kLog2Pi + lv + d * d * std::exp(-lv));
      }
    const double top = *std::max_element(ell.begin(), ell.end());
    double sum = 0;
    for (double l : ell) sum += std::exp(l - top);
    const double expected = top + std::log(sum) - std::log(double(K));
    EXPECT_NEAR(rows[b], expected, 1e-9 * (1 + std::fabs(expected))) << "row " << b;
    EXPECT_EQ(rows_alone[b], rows[b]) << "row " << b;
    double total = 0;
    for (int k = 0; k < K; ++k) total += resp[b * K + k];
    EXPECT_NEAR(total, 1.0, 1e-12) << "row " << b;
  }
  // The gradient, also from products, against its definition summed term by term.
  std::vector<double> w(B), dz(B * Z, 0.5), dmu(K * Z, -0.25), dlv(K * Z, 0.125);
  for (int b = 0; b < B; ++b) w[b] = 0.5 + 0.01 * b;
  std::vector<double> dz_ref = dz, dmu_ref = dmu, dlv_ref = dlv;
  vae::vamp_log_prior_backward<double>(dz.data(), dmu.data(), dlv.data(), w.data(), resp.data(),
                                       m.z.data(), m.mu.data(), m.logvar.data(), B, K, Z);
  for (int b = 0; b < B; ++b)
    for (int k = 0; k < K; ++k)
      for (int j = 0; j < Z; ++j) {
        const double g = w[b] * resp[b * K + k], d = m.z[b * Z + j] - m.mu[k * Z + j],
                     iv = std::exp(-m.logvar[k * Z + j]);
        dz_ref[b * Z + j] -= g * d * iv;
        dmu_ref[k * Z + j] += g * d * iv;
        dlv_ref[k * Z + j] += g * 0.5 * (d * d * iv - 1);
      }
  auto expect_close = [](const std::vector<double>& got, const std::vector<double>& want,
                         const char* name) {
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_NEAR(got[i], want[i], 1e-9 * (1 + std::fabs(want[i]))) << name << "[" << i << "]";
  };
  expect_close(dz, dz_ref, "dz");
  expect_close(dmu, dmu_ref, "dmu");
  expect_close(dlv, dlv_ref, "dlogvar");
}

TEST(VampPrior, FloatAgreesWithDouble) {
  Mixture m = random_mixture(5, 6, 3, 41);
  std::vector<double> rows;
  log_prior_sum(m, &rows);
  std::vector<float> zf(m.z.begin(), m.z.end()), mf(m.mu.begin(), m.mu.end()),
      lf(m.logvar.begin(), m.logvar.end()), rf(m.B), resp(m.B * m.K);
  vae::vamp_log_prior_forward(rf.data(), resp.data(), zf.data(), mf.data(), lf.data(), m.B, m.K,
                              m.Z);
  for (int b = 0; b < m.B; ++b) EXPECT_NEAR(rf[b], rows[b], 1e-4 * (1 + std::fabs(rows[b])));
}

}  // namespace
