// The importance-weighted log-likelihood: exact on probabilistic PCA, a bound that tightens with
// K and sits above the ELBO.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "eval/gaussian3.h"
#include "vae/eval.h"
#include "vae/model.h"
#include "vae/runtime.h"

namespace {

using vae_test::log_normal3;

// Probabilistic PCA as a VAE: D = 3, Z = 2, no hidden layers, Gaussian likelihood with σ = 0.5,
// decoder W (3,2) with orthogonal columns so that the exact posterior is diagonal:
//   p(x) = N(b, W Wᵀ + σ² I),  q*(z|x) = N(M⁻¹ Wᵀ (x − b), σ² M⁻¹),  M = WᵀW + σ² I (diagonal).
struct Ppca {
  vae::ModelConfig cfg;
  double W[3][2] = {{1.0, 0.5}, {2.0, 0.0}, {-1.0, 1.0}};  // orthogonalised in the constructor
  double b[3] = {0.2, -0.1, 0.4};
  double sigma = 0.5;
  Ppca() {
    // Make the columns orthogonal: second column minus its projection on the first.
    double c0 = 0, c01 = 0;
    for (int i = 0; i < 3; ++i) {
      c0 += W[i][0] * W[i][0];
      c01 += W[i][0] * W[i][1];
    }
    for (int i = 0; i < 3; ++i) W[i][1] -= c01 / c0 * W[i][0];
    cfg.input_dim = 3;
    cfg.hidden = {};
    cfg.latent = 2;
    cfg.likelihood = vae::Likelihood::Gaussian;
    cfg.sigma = sigma;
    cfg.height = cfg.width = cfg.channels = 0;
  }
  double m(int j) const {  // M_jj = Σ_i W_ij² + σ²
    double s = sigma * sigma;
    for (int i = 0; i < 3; ++i) s += W[i][j] * W[i][j];
    return s;
  }
  // Loads the decoder, and the exact posterior (exact = true) or a deliberately poor one.
  void load(vae::Vae<float>& model, bool exact) const {
    float* P = model.params();
    for (const vae::ParamInfo& p : model.params_info()) {
      float* t = P + p.offset;
      for (size_t i = 0; i < p.numel; ++i) t[i] = 0;
      if (p.name == "decoder.out.weight")
        for (int i = 0; i < 3; ++i)
          for (int j = 0; j < 2; ++j) t[i * 2 + j] = static_cast<float>(W[i][j]);
      if (p.name == "decoder.out.bias")
        for (int i = 0; i < 3; ++i) t[i] = static_cast<float>(b[i]);
      if (p.name == "encoder.mu.weight")  // (2,3): M⁻¹ Wᵀ, or half of it
        for (int j = 0; j < 2; ++j)
          for (int i = 0; i < 3; ++i) t[j * 3 + i] = static_cast<float>(W[i][j] / m(j) * (exact ? 1 : 0.5));
      if (p.name == "encoder.mu.bias")  // −M⁻¹ Wᵀ b
        for (int j = 0; j < 2; ++j) {
          double s = 0;
          for (int i = 0; i < 3; ++i) s += W[i][j] * b[i];
          t[j] = static_cast<float>(-s / m(j) * (exact ? 1 : 0.5));
        }
      if (p.name == "encoder.logvar.bias")
        for (int j = 0; j < 2; ++j) t[j] = static_cast<float>(std::log(sigma * sigma / m(j)) + (exact ? 0 : 1.0));
    }
  }
  double exact_log_px(const float* x) const {
    double C[3][3], xd[3] = {x[0], x[1], x[2]};
    for (int i = 0; i < 3; ++i)
      for (int k = 0; k < 3; ++k)
        C[i][k] = W[i][0] * W[k][0] + W[i][1] * W[k][1] + (i == k ? sigma * sigma : 0);
    return log_normal3(xd, b, C);
  }
};

TEST(ImportanceWeighted, ExactPosteriorGivesTheExactLikelihoodForAnyK) {
  const Ppca ppca;
  vae::Vae<float> model(ppca.cfg, 8);
  ppca.load(model, true);
  const vae::Dataset data = vae_test::points3(20, 12, 1.0);
  for (int k : {1, 7}) {
    const vae::IwResult r = vae::evaluate_iw(model, data, k, 3, {}, 5);  // 5 rows: passes split examples
    for (size_t i = 0; i < data.n; ++i)
      EXPECT_NEAR(r.per_example[i], ppca.exact_log_px(data.row(i)), 2e-4) << "k=" << k << " i=" << i;
  }
}

TEST(ImportanceWeighted, ConvergesToTheExactLikelihoodFromAPoorPosterior) {
  const Ppca ppca;
  vae::Vae<float> model(ppca.cfg, 8);
  ppca.load(model, false);
  const vae::Dataset data = vae_test::points3(10, 12, 1.0);
  double exact = 0;
  for (size_t i = 0; i < data.n; ++i) exact += ppca.exact_log_px(data.row(i));
  exact /= data.n;
  const double gap1 = exact - vae::evaluate_iw(model, data, 1).log_likelihood;
  const double gap5000 = exact - vae::evaluate_iw(model, data, 5000).log_likelihood;
  EXPECT_GT(gap1, 0.3);                // a poor q leaves a large gap at K = 1 ...
  EXPECT_LT(std::fabs(gap5000), 0.01);  // ... which K = 5000 closes
}

// A 16-12-3 MLP with random weights and n random 4×4 images, both from Rng(seed).
struct RandomMlp {
  static vae::ModelConfig config() {
    vae::ModelConfig cfg;
    cfg.input_dim = 16;
    cfg.hidden = {12};
    cfg.latent = 3;
    cfg.height = cfg.width = 4;
    cfg.channels = 1;
    return cfg;
  }
  RandomMlp(uint64_t seed, size_t n) : model(config(), 64) {
    vae::Rng rng(seed);
    model.init_params(rng);
    data.n = n;
    data.d = 16;
    data.x.resize(n * 16);
    for (float& v : data.x) v = rng.uniform_float();
  }
  vae::Vae<float> model;
  vae::Dataset data;
};

TEST(ImportanceWeighted, BoundRisesWithKAndSitsAboveTheElbo) {
  RandomMlp r(2, 200);
  vae::Vae<float>& model = r.model;
  const vae::Dataset& data = r.data;
  const vae::ElboResult e = vae::evaluate_elbo(model, data, vae::kEvalSeed, true);
  const double elbo = -e.loss;
  const vae::IwResult r1 = vae::evaluate_iw(model, data, 1);
  const double k1 = r1.log_likelihood;
  const double k10 = vae::evaluate_iw(model, data, 10).log_likelihood;
  const double k100 = vae::evaluate_iw(model, data, 100).log_likelihood;
  // K = 1 estimates the ELBO with other ε (and the KL at the sample): the two means agree within
  // a few standard errors of their per-example difference.
  double sum = 0, sum_sq = 0;
  for (size_t i = 0; i < data.n; ++i) {
    const double d = r1.per_example[i] + (e.recon_rows[i] + e.kl_rows[i]);
    sum += d;
    sum_sq += d * d;
  }
  const double mean = sum / data.n;
  const double se = std::sqrt((sum_sq / data.n - mean * mean) / (data.n - 1));
  EXPECT_NEAR(k1, elbo, 4 * se);
  EXPECT_LT(se, 0.1);  // the comparison has teeth
  EXPECT_GT(k10, elbo);
  EXPECT_GT(k100, k10);
}

// Each example draws its ε from its own stream, so the estimate is the same whether one worker or
// several share the examples, and whatever the number of rows per decoder pass.
TEST(ImportanceWeighted, SameEstimateForAnyWorkerCountAndPassSize) {
  RandomMlp r(4, 37);
  vae::Vae<float>& model = r.model;
  const vae::Dataset& data = r.data;
  const int saved = vae::num_threads();
  vae::set_num_threads(1);
  const vae::IwResult one = vae::evaluate_iw(model, data, 20, 9, {}, 4096);
  vae::set_num_threads(3);  // more workers than cores: still correct, only slower
  const vae::IwResult three = vae::evaluate_iw(model, data, 20, 9, {}, 7);
  vae::set_num_threads(saved);
  ASSERT_EQ(one.per_example.size(), three.per_example.size());
  for (size_t i = 0; i < one.per_example.size(); ++i)
    EXPECT_NEAR(one.per_example[i], three.per_example[i], 1e-4 * std::fabs(one.per_example[i])) << i;
  EXPECT_EQ(vae::num_threads(), saved);
}

TEST(ImportanceWeighted, ReportsProgressAndStandardError) {
  const Ppca ppca;
  vae::Vae<float> model(ppca.cfg, 8);
  ppca.load(model, false);
  const vae::Dataset data = vae_test::points3(30, 12, 1.0);
  size_t last = 0, calls = 0;
  const vae::IwResult r = vae::evaluate_iw(model, data, 10, 1, [&](size_t done, size_t total) {
    EXPECT_EQ(total, 30u);
    EXPECT_GT(done, last);
    last = done;
    ++calls;
  }, 32);
  EXPECT_EQ(last, 30u);
  EXPECT_GE(calls, 4u);
  double mean = 0, var = 0;
  for (double v : r.per_example) mean += v;
  mean /= 30;
  for (double v : r.per_example) var += (v - mean) * (v - mean);
  EXPECT_NEAR(r.std_error, std::sqrt(var / 29 / 30), 1e-12);
}

}  // namespace
