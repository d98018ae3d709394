// The importance-weighted log-likelihood of a hierarchical VAE (src/eval/iw.cpp through
// Vae::forward_iw, model/hierarchy.h), exact on a linear-Gaussian model: z2 ~ N(0, 1),
// z1 | z2 ~ N(A z2 + a, S), x | z ~ N(b z1 + c z2 + d, σ² I) (D = 3) has
//   p(x) = N(x; b a + d, (b A + c)(b A + c)ᵀ + S b bᵀ + σ² I),
// and with q(z2|x) q(z1|x, z2) its exact posterior every weight is p(x): the estimate is exact
// for any K. From a poorer posterior it converges with K = 5000; on a briefly trained model the
// bound rises with K. The model's prior (sample_prior, log_prior) and encode against the same
// closed forms.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "eval/bound_rises.h"
#include "eval/gaussian3.h"
#include "layer_specs.h"
#include "vae/eval.h"
#include "vae/model.h"

namespace {

using vae_test::log_normal3;

struct LinearHvae {
  double A = 0.8, a = -0.4, S = 0.6;                // p(z1|z2)
  double b[3] = {1.0, -0.5, 0.7}, c[3] = {0.3, 1.2, -0.8}, d[3] = {0.2, -0.1, 0.4};  // p(x|z)
  double sigma = 0.5;
  // The exact posterior of z = [z1, z2]: covariance Σ (2×2) and mean G x + g (G 2×3).
  double Sigma[2][2], G[2][3], g[2];

  LinearHvae() {
    // Prior of z: mean m0 = (a, 0), covariance P = [[A² + S, A], [A, 1]]; precision of the
    // posterior Λ = P⁻¹ + Mᵀ M / σ², M = [b c] (3×2); mean Σ (P⁻¹ m0 + Mᵀ (x − d) / σ²).
    const double P[2][2] = {{A * A + S, A}, {A, 1.0}};
    double Pi[2][2];
    invert(P, Pi);
    const double* M[2] = {b, c};
    double L[2][2];
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) {
        L[i][j] = Pi[i][j];
        for (int k = 0; k < 3; ++k) L[i][j] += M[i][k] * M[j][k] / (sigma * sigma);
      }
    invert(L, Sigma);
    const double m0[2] = {a, 0.0};
    for (int i = 0; i < 2; ++i) {
      for (int k = 0; k < 3; ++k)
        G[i][k] = (Sigma[i][0] * M[0][k] + Sigma[i][1] * M[1][k]) / (sigma * sigma);
      double h[2];  // P⁻¹ m0 − Mᵀ d / σ²
      for (int j = 0; j < 2; ++j) {
        h[j] = Pi[j][0] * m0[0] + Pi[j][1] * m0[1];
        for (int k = 0; k < 3; ++k) h[j] -= M[j][k] * d[k] / (sigma * sigma);
      }
      g[i] = Sigma[i][0] * h[0] + Sigma[i][1] * h[1];
    }
  }
  static void invert(const double m[2][2], double out[2][2]) {
    const double det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    out[0][0] = m[1][1] / det;
    out[1][1] = m[0][0] / det;
    out[0][1] = -m[0][1] / det;
    out[1][0] = -m[1][0] / det;
  }

  vae::ModelConfig config() const {
    vae::ModelConfig cfg;
    cfg.input_dim = 3;
    cfg.hidden = {};
    cfg.latent = 2;
    cfg.top_latent = 1;
    cfg.likelihood = vae::Likelihood::Gaussian;
    cfg.sigma = sigma;
    cfg.height = cfg.width = cfg.channels = 0;
    return cfg;
  }

  // q(z2|x) = N(G₁ x + g₁, Σ₂₂) and q(z1|x, z2) = N(G₀ x + g₀ + r (z2 − G₁ x − g₁),
  // Σ₁₁ − r Σ₁₂), r = Σ₁₂ / Σ₂₂ — the exact conditionals; `poor` shrinks both means and widens
  // both variances.
  void load(vae::Vae<float>& model, bool poor = false) const {
    const double r = Sigma[0][1] / Sigma[1][1], shrink = poor ? 0.6 : 1.0;
    const double widen = poor ? 1.0 : 0.0;
    for (const vae::ParamInfo& p : model.params_info()) {
      float* t = model.params() + p.offset;
      std::fill(t, t + p.numel, 0.0f);
      auto set = [&](std::initializer_list<double> v) {
        size_t i = 0;
        for (double e : v) t[i++] = static_cast<float>(e);
      };
      if (p.name == "encoder.mu.weight") set({shrink * G[1][0], shrink * G[1][1], shrink * G[1][2]});
      if (p.name == "encoder.mu.bias") set({shrink * g[1]});
      if (p.name == "encoder.logvar.bias") set({std::log(Sigma[1][1]) + widen});
      if (p.name == "encoder_z1.mu.weight")  // reads [x, z2]
        set({shrink * (G[0][0] - r * G[1][0]), shrink * (G[0][1] - r * G[1][1]),
             shrink * (G[0][2] - r * G[1][2]), shrink * r});
      if (p.name == "encoder_z1.mu.bias") set({shrink * (g[0] - r * g[1])});
      if (p.name == "encoder_z1.logvar.bias") set({std::log(Sigma[0][0] - r * Sigma[0][1]) + widen});
      if (p.name == "prior_z1.mu.weight") set({A});
      if (p.name == "prior_z1.mu.bias") set({a});
      if (p.name == "prior_z1.logvar.bias") set({std::log(S)});
      if (p.name == "decoder.out.weight") set({b[0], c[0], b[1], c[1], b[2], c[2]});  // (3, 2)
      if (p.name == "decoder.out.bias") set({d[0], d[1], d[2]});
    }
  }

  double exact_log_px(const float* x) const {
    double C[3][3], mean[3], xd[3] = {x[0], x[1], x[2]};
    for (int i = 0; i < 3; ++i) {
      mean[i] = b[i] * a + d[i];
      for (int k = 0; k < 3; ++k)
        C[i][k] = (b[i] * A + c[i]) * (b[k] * A + c[k]) + S * b[i] * b[k] +
                  (i == k ? sigma * sigma : 0.0);
    }
    return log_normal3(xd, mean, C);
  }
};

TEST(ImportanceWeightedHierarchy, ExactPosteriorGivesTheExactLikelihoodForAnyK) {
  const LinearHvae lh;
  vae::Vae<float> model(lh.config(), 8);
  lh.load(model);
  const vae::Dataset data = vae_test::points3(20, 3, 2.0);
  for (int k : {1, 7}) {
    const vae::IwResult r = vae::evaluate_iw(model, data, k, 3, {}, 5);  // passes split examples
    for (size_t i = 0; i < data.n; ++i)
      EXPECT_NEAR(r.per_example[i], lh.exact_log_px(data.row(i)), 3e-4) << "k=" << k << " i=" << i;
  }
  // The training forward's bound: L_K per example is −log p(x) too.
  const int B = 20, K = 3;
  vae::Vae<float> train(lh.config(), B, K);
  lh.load(train);
  std::vector<float> eps(B * K * 2);
  vae::Rng(4).normal_fill(eps.data(), eps.size());
  train.forward_iw(data.x.data(), eps.data(), B, K);
  double exact = 0;
  for (size_t i = 0; i < data.n; ++i) exact += lh.exact_log_px(data.row(i));
  EXPECT_NEAR(train.iw_objective(), -exact, 5e-3);
}

TEST(ImportanceWeightedHierarchy, ConvergesToTheExactLikelihoodFromAPoorerPosterior) {
  const LinearHvae lh;
  vae::Vae<float> model(lh.config(), 8);
  lh.load(model, /*poor=*/true);
  const vae::Dataset data = vae_test::points3(10, 5, 2.0);
  double exact = 0;
  for (size_t i = 0; i < data.n; ++i) exact += lh.exact_log_px(data.row(i)) / data.n;
  EXPECT_GT(exact - vae::evaluate_iw(model, data, 1, 6).log_likelihood, 0.2);
  const int seeds = 4;
  std::vector<double> est;
  for (int s = 0; s < seeds; ++s)
    est.push_back(vae::evaluate_iw(model, data, 5000, 10 + s).log_likelihood);
  double mean = 0, sq = 0;
  for (double e : est) mean += e / seeds;
  for (double e : est) sq += (e - mean) * (e - mean);
  const double sd_mean = std::sqrt(sq / (seeds - 1) / seeds);
  EXPECT_NEAR(mean, exact, 4 * sd_mean + 2e-3) << "sd of the mean " << sd_mean;
}

// sample_prior: z2 = ε2, z1 = A z2 + a + √S ε1 from the same draws; log_prior the two densities.
TEST(ImportanceWeightedHierarchy, PriorSamplesAndDensityAreTheModelsConditionals) {
  const LinearHvae lh;
  vae::Vae<float> model(lh.config(), 4);
  lh.load(model);
  const size_t n = 9;  // more rows than the model's tensors: sampled a chunk at a time
  std::vector<float> z(n * 2), eps(n * 2), logp(4);
  vae::Rng r1(21), r2(21);
  model.sample_prior(z.data(), n, r1);
  r2.normal_fill(eps.data(), eps.size());
  for (size_t i = 0; i < n; ++i) {
    EXPECT_FLOAT_EQ(z[i * 2 + 1], eps[i * 2 + 1]);
    EXPECT_NEAR(z[i * 2], lh.A * eps[i * 2 + 1] + lh.a + std::sqrt(lh.S) * eps[i * 2], 1e-5);
  }
  model.log_prior(z.data(), 4, logp.data());
  for (size_t i = 0; i < 4; ++i) {
    const double z1 = z[i * 2], z2 = z[i * 2 + 1], m = lh.A * z2 + lh.a;
    const double expected = -0.5 * (std::log(2 * M_PI) + z2 * z2) -
                            0.5 * (std::log(2 * M_PI * lh.S) + (z1 - m) * (z1 - m) / lh.S);
    EXPECT_NEAR(logp[i], expected, 1e-5) << i;
  }
}

// encode: z2's posterior, and z1's at z2 = μ2 — with the exact posterior, its mean G x + g.
TEST(ImportanceWeightedHierarchy, EncodeGivesBothLayersPosteriorMeans) {
  const LinearHvae lh;
  vae::Vae<float> model(lh.config(), 2);
  lh.load(model);
  const vae::Dataset data = vae_test::points3(5, 7, 2.0);
  std::vector<float> mu(5 * 2), logvar(5 * 2);
  model.encode(data.x.data(), 5, mu.data(), logvar.data());
  const double r = lh.Sigma[0][1] / lh.Sigma[1][1];
  for (size_t i = 0; i < 5; ++i) {
    for (int j = 0; j < 2; ++j) {
      double m = lh.g[j];
      for (int k = 0; k < 3; ++k) m += lh.G[j][k] * data.x[i * 3 + k];
      EXPECT_NEAR(mu[i * 2 + j], m, 1e-5) << i << " " << j;
    }
    EXPECT_NEAR(logvar[i * 2], std::log(lh.Sigma[0][0] - r * lh.Sigma[0][1]), 1e-5);
    EXPECT_NEAR(logvar[i * 2 + 1], std::log(lh.Sigma[1][1]), 1e-5);
  }
}

// Noisy binary 4×4 stripes (horizontal or vertical, at one of two offsets, 20% of the pixels
// flipped), a hierarchical model trained briefly with Adam on the ELBO; then IW(1) < IW(10) <
// IW(100) on held-out examples, each step by more than 3 standard errors of the paired
// per-example differences, on `held_out` examples.
void expect_trained_bound_rises(const vae::ModelConfig& cfg, size_t held_out) {
  const int D = 16, N = 400, B = 40;
  vae::Rng rng(11);
  auto stripes = [&](size_t n) {
    vae::Dataset data;
    data.n = n;
    data.d = D;
    data.x.resize(n * D);
    for (size_t i = 0; i < n; ++i) {
      const bool vertical = i % 2 == 0;
      const int offset = static_cast<int>(i / 2 % 2);
      for (int p = 0; p < D; ++p) {
        const int along = vertical ? p % 4 : p / 4;
        const bool on = along % 2 == offset;
        data.x[i * D + p] = on != (rng.uniform() < 0.2) ? 1.0f : 0.0f;
      }
    }
    return data;
  };
  const vae::Dataset train = stripes(N), test = stripes(held_out);
  vae::Vae<float> model(cfg, B);
  model.init_params(rng);
  vae_test::train_briefly(model, train, B, 300, rng);
  vae_test::expect_bound_rises(model, test, 12);
}

// A 16-8-(2+2) MLP.
TEST(ImportanceWeightedHierarchy, BoundRisesWithKOnATrainedModel) {
  vae::ModelConfig cfg = vae_test::small_image_config(4);
  cfg.top_latent = 2;
  expect_trained_bound_rises(cfg, 1500);
}

// The ConvHVAE: a 3×3 convolution of 4 channels, then a dense layer of 8 (q(z1|x, z2) runs the
// convolution again on x, its dense layer on [f, z2]). Its posterior fits the stripes closer,
// so the gain from K = 10 to 100 is smaller (about 0.013 nats): 4000 held-out examples to see it.
TEST(ImportanceWeightedHierarchy, BoundRisesWithKOnATrainedConvModel) {
  vae::ModelConfig cfg = vae_test::small_image_config(4);
  cfg.arch = vae::Arch::Custom;
  cfg.hidden.clear();
  cfg.encoder = {vae::conv_layer(4, 3, 1, 1), vae::dense_layer(8)};
  cfg.decoder = {vae::dense_layer(8), vae::dense_layer(16)};
  cfg.top_latent = 2;
  expect_trained_bound_rises(cfg, 4000);
}

}  // namespace
