// The importance-weighted log-likelihood with the VampPrior (src/eval/iw.cpp, Vae::log_prior):
// exact on a linear-Gaussian model whose pseudo-inputs all encode to one Gaussian N(m, S) —
// p(x) = N(x; W m + b, W S Wᵀ + σ² I) in closed form — and, with m = 0 and S = I, the standard
// prior's figure sample for sample; and on a briefly trained VampPrior model a bound that rises
// with K (1, 10, 100) by more than its noise.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "eval/bound_rises.h"
#include "eval/gaussian3.h"
#include "vae/eval.h"
#include "vae/model.h"

namespace {

using vae_test::log_normal3;

// D = 3, Z = 2, no hidden layers, Gaussian likelihood σ = 0.5: the decoder x = W z + b + noise.
// The encoder's μ head is z = A (x − u0) + m and its log σ² head the constant log S, so every
// pseudo-input, all set to u0, encodes to N(m, diag S): the prior is that one Gaussian, and
// q(z|x) (covariance S, mean moving with x) is a proposal of the right scale.
struct LinearGaussian {
  double W[3][2] = {{1.0, 0.5}, {2.0, -0.3}, {-1.0, 1.0}};
  double b[3] = {0.2, -0.1, 0.4};
  double A[2][3] = {{0.15, 0.3, -0.1}, {0.1, -0.05, 0.35}};
  double u0[3] = {0.3, 0.6, 0.1};
  double sigma = 0.5;
  double m[2], S[2];
  int pseudo_inputs = 7;

  LinearGaussian(double m0, double m1, double s0, double s1) : m{m0, m1}, S{s0, s1} {}

  vae::ModelConfig config(vae::Prior prior) const {
    vae::ModelConfig c;
    c.input_dim = 3;
    c.hidden = {};
    c.latent = 2;
    c.likelihood = vae::Likelihood::Gaussian;
    c.sigma = sigma;
    c.height = c.width = c.channels = 0;
    c.prior = prior;
    c.pseudo_inputs = pseudo_inputs;
    return c;
  }

  void load(vae::Vae<float>& model) const {
    float* P = model.params();
    for (const vae::ParamInfo& p : model.params_info()) {
      float* t = P + p.offset;
      std::fill(t, t + p.numel, 0.0f);
      if (p.name == "decoder.out.weight")  // (3, 2)
        for (int i = 0; i < 3; ++i)
          for (int j = 0; j < 2; ++j) t[i * 2 + j] = static_cast<float>(W[i][j]);
      if (p.name == "decoder.out.bias")
        for (int i = 0; i < 3; ++i) t[i] = static_cast<float>(b[i]);
      if (p.name == "encoder.mu.weight")  // (2, 3)
        for (int j = 0; j < 2; ++j)
          for (int i = 0; i < 3; ++i) t[j * 3 + i] = static_cast<float>(A[j][i]);
      if (p.name == "encoder.mu.bias")  // m − A u0
        for (int j = 0; j < 2; ++j) {
          double s = m[j];
          for (int i = 0; i < 3; ++i) s -= A[j][i] * u0[i];
          t[j] = static_cast<float>(s);
        }
      if (p.name == "encoder.logvar.bias")
        for (int j = 0; j < 2; ++j) t[j] = static_cast<float>(std::log(S[j]));
      if (p.name == "prior.pseudo_inputs")  // (K, 3), every row u0
        for (size_t k = 0; k < p.numel; ++k) t[k] = static_cast<float>(u0[k % 3]);
    }
  }

  // log N(x; W m + b, W S Wᵀ + σ² I).
  double exact_log_px(const float* x) const {
    double C[3][3], c[3], xd[3] = {x[0], x[1], x[2]};
    for (int i = 0; i < 3; ++i) {
      c[i] = b[i] + W[i][0] * m[0] + W[i][1] * m[1];
      for (int k = 0; k < 3; ++k)
        C[i][k] = W[i][0] * S[0] * W[k][0] + W[i][1] * S[1] * W[k][1] + (i == k ? sigma * sigma : 0);
    }
    return log_normal3(xd, c, C);
  }
};

// Every example's estimate with K = 5000 against its exact log p(x). The tolerance comes from
// the estimator's own spread: the same estimate under 4 seeds, whose per-example standard
// deviation of the mean bounds the noise (4 of them, plus float rounding); that spread is small
// beside the differences a wrong prior would make (the caller checks those).
void expect_exact(const vae::Vae<float>& model, const LinearGaussian& lg, const vae::Dataset& data) {
  const int seeds = 4;
  std::vector<std::vector<double>> est;
  for (int s = 0; s < seeds; ++s)
    est.push_back(vae::evaluate_iw(model, data, 5000, 100 + s).per_example);
  for (size_t i = 0; i < data.n; ++i) {
    double mean = 0, sq = 0;
    for (int s = 0; s < seeds; ++s) mean += est[s][i] / seeds;
    for (int s = 0; s < seeds; ++s) sq += (est[s][i] - mean) * (est[s][i] - mean);
    const double sd_mean = std::sqrt(sq / (seeds - 1) / seeds);
    EXPECT_NEAR(mean, lg.exact_log_px(data.row(i)), 4 * sd_mean + 1e-3)
        << "i=" << i << " sd of the mean " << sd_mean;
    EXPECT_LT(sd_mean, 0.05) << "i=" << i;
  }
}

TEST(ImportanceWeightedVamp, PseudoInputsEncodingToOneGaussianGiveItsExactLikelihood) {
  const LinearGaussian lg(0.8, -1.2, 0.4, 2.5);
  vae::Vae<float> model(lg.config(vae::Prior::Vamp), 8);
  lg.load(model);
  const vae::Dataset data = vae_test::points3(12, 3, 1.5);
  expect_exact(model, lg, data);
  // The figure depends on m and S: the standard prior's exact figures are far from these.
  const LinearGaussian other(0.0, 0.0, 1.0, 1.0);
  double gap = 0;
  for (size_t i = 0; i < data.n; ++i)
    gap += std::fabs(other.exact_log_px(data.row(i)) - lg.exact_log_px(data.row(i)));
  EXPECT_GT(gap / data.n, 0.5);
}

// With m = 0 and S = I the mixture is N(0, I): the VampPrior model's estimate is the standard
// prior model's (same weights, same ε), and both are the exact figure.
TEST(ImportanceWeightedVamp, StandardNormalComponentsGiveTheStandardPriorsFigure) {
  const LinearGaussian lg(0.0, 0.0, 1.0, 1.0);
  vae::Vae<float> vamp(lg.config(vae::Prior::Vamp), 8), standard(lg.config(vae::Prior::Standard), 8);
  lg.load(vamp);
  lg.load(standard);
  const vae::Dataset data = vae_test::points3(10, 4, 1.5);
  const vae::IwResult a = vae::evaluate_iw(vamp, data, 2000, 5);
  const vae::IwResult b = vae::evaluate_iw(standard, data, 2000, 5);
  for (size_t i = 0; i < data.n; ++i) EXPECT_NEAR(a.per_example[i], b.per_example[i], 2e-4) << i;
  expect_exact(vamp, lg, data);
  // K = 1 through the training forward: L_1 is the one-sample ELBO with the KL estimated at z,
  // the same for both priors.
  vae::Vae<float> va(lg.config(vae::Prior::Vamp), 10), st(lg.config(vae::Prior::Standard), 10);
  lg.load(va);
  lg.load(st);
  std::vector<float> eps(10 * 2);
  vae::Rng(6).normal_fill(eps.data(), eps.size());
  va.forward_iw(data.x.data(), eps.data(), 10, 1);
  st.forward_iw(data.x.data(), eps.data(), 10, 1);
  EXPECT_NEAR(va.iw_objective(), st.iw_objective(), 1e-3);
}

// Binary 4×4 patterns (four prototypes with 25% of the pixels flipped: which prototype is often
// ambiguous, so the posterior is not Gaussian), a 16-8-3 VampPrior model trained briefly with
// Adam on the ELBO; then IW(1) < IW(10) < IW(100) on held-out
// examples, each step by more than 3 standard errors of the paired per-example differences.
TEST(ImportanceWeightedVamp, BoundRisesWithKOnATrainedModel) {
  const int D = 16, N = 400, B = 40;
  vae::ModelConfig cfg = vae_test::small_image_config(3);
  cfg.prior = vae::Prior::Vamp;
  cfg.pseudo_inputs = 6;
  vae::Rng rng(8);
  auto make = [&](size_t n) {
    vae::Dataset d;
    d.n = n;
    d.d = D;
    d.x.resize(n * D);
    for (size_t i = 0; i < n; ++i)
      for (int j = 0; j < D; ++j) {
        const int proto = static_cast<int>(i % 4);
        const bool on = proto < 2 ? (j / 4 < 2) == (proto == 0) : (j % 4 < 2) == (proto == 2);
        d.x[i * D + j] = (on != (rng.uniform() < 0.25)) ? 1.0f : 0.0f;
      }
    return d;
  };
  const vae::Dataset train = make(N), test = make(2000);
  vae::Vae<float> model(cfg, B);
  model.init_params(rng);
  vae_test::train_briefly(model, train, B, 300, rng);
  vae_test::expect_bound_rises(model, test, 9);
}

}  // namespace
