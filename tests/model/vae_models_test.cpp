// The model families beyond the MLP VAE (include/vae/model.h): convolutional stacks, conditional
// inputs, a learned Gaussian σ, the sampled-KL objective and the IWAE objective. Each one's whole
// objective is checked against finite differences for every parameter (double precision, ε
// pinned), plus the identities that tie them to the plain VAE.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "gradcheck.h"
#include "layer_specs.h"
#include "vae/error.h"
#include "vae/model.h"

namespace {

// A small conv VAE on 1×6×6 images:
//   encoder conv 3ch k3 s2 p1 (6×6 → 3×3), dense 5;  decoder dense 12, reshape 3×2×2,
//   conv_transpose 1ch k4 s2 (2×2 → 6×6).
vae::ModelConfig conv_config() {
  return vae_test::custom_config(
      6, 2, vae::Activation::Tanh, {vae::conv_layer(3, 3, 2, 1), vae::dense_layer(5)},
      {vae::dense_layer(12), vae::reshape_layer(3, 2, 2), vae::conv_transpose_layer(1, 4, 2, 0)});
}

// A gated MLP on 1×3×3 images, as the published GatedDense models (no activation after a gate).
vae::ModelConfig gated_config() {
  return vae_test::custom_config(3, 2, vae::Activation::Relu,
                                 {vae::gated_dense_layer(5), vae::gated_dense_layer(4)},
                                 {vae::gated_dense_layer(4), vae::dense_layer(9)});
}

struct Batch {
  std::vector<double> x, eps;
  std::vector<int32_t> labels;
};

Batch make_batch(const vae::ModelConfig& cfg, int B, int K, vae::Rng& rng) {
  Batch b;
  b.x.resize(static_cast<size_t>(B) * cfg.input_dim);
  b.eps.resize(static_cast<size_t>(B) * K * cfg.latent);
  vae_test::fill_uniform(b.x, rng, 0, 1);
  if (cfg.likelihood != vae::Likelihood::Bernoulli) vae_test::fill_uniform(b.x, rng, -1, 1);
  rng.normal_fill(b.eps.data(), b.eps.size());
  for (int r = 0; r < B; ++r) b.labels.push_back(r % std::max(cfg.num_classes, 1));
  return b;
}

// Checks backward's gradient of `objective` (which must run the matching forward) for every
// parameter, then the accumulate rule.
void check_all_parameters(vae::Vae<double>& model, const std::function<double()>& objective,
                          const std::function<double()>& run_backward) {
  model.zero_grad();
  objective();
  const double value = run_backward();
  EXPECT_NEAR(value, objective(), 1e-10 * std::max(1.0, std::fabs(value)));
  std::vector<double> grad(model.grads(), model.grads() + model.num_params());
  for (const vae::ParamInfo& p : model.params_info())
    vae_test::check_gradient(p.name, model.params() + p.offset, grad.data() + p.offset, p.numel,
                             objective, 1e-6, 1e-5, 1e-8);
  objective();
  run_backward();
  for (size_t i = 0; i < model.num_params(); ++i)
    ASSERT_NEAR(model.grads()[i], 2 * grad[i], 1e-12 + 1e-12 * std::fabs(grad[i]));
}

struct ModelCase {
  std::string name;
  vae::ModelConfig cfg;
  int K = 0;  // 0: the VAE (forward/backward); K ≥ 1: forward_iw with K samples
};

class ModelGradient : public ::testing::TestWithParam<ModelCase> {};

TEST_P(ModelGradient, WholeObjectiveMatchesFiniteDifferencesForEveryParameter) {
  const ModelCase& c = GetParam();
  const int B = 3, K = std::max(c.K, 1);
  vae::Vae<double> model(c.cfg, B, K);
  vae::Rng rng(31);
  model.init_params(rng);
  if (c.cfg.likelihood == vae::Likelihood::GaussianLearnedSigma)  // move log σ off its initial 0 so its gradient is a general one
    for (const vae::ParamInfo& p : model.params_info())
      if (p.name == "decoder.logsigma")
        for (size_t i = 0; i < p.numel; ++i) model.params()[p.offset + i] = 0.3 * std::sin(i + 1.0);
  const Batch b = make_batch(c.cfg, B, K, rng);
  const int32_t* labels = c.cfg.num_classes > 0 ? b.labels.data() : nullptr;
  if (c.K == 0) {
    check_all_parameters(
        model, [&] { return model.forward(b.x.data(), b.eps.data(), B, labels).total() / B; },
        [&] { return model.backward(b.x.data(), B); });
  } else {
    check_all_parameters(
        model,
        [&] {
          model.forward_iw(b.x.data(), b.eps.data(), B, K, labels);
          return model.iw_objective() / B;
        },
        [&] { return model.backward(b.x.data(), B); });
  }
}

std::vector<ModelCase> model_cases() {
  std::vector<ModelCase> v;
  v.push_back({"conv", conv_config()});
  vae::ModelConfig cc = conv_config();
  cc.num_classes = 3;
  v.push_back({"conv_conditional", cc});
  vae::ModelConfig mc = vae_test::mlp_config({5});
  mc.num_classes = 4;
  v.push_back({"mlp_conditional", mc});
  vae::ModelConfig lc = vae_test::mlp_config({});
  lc.num_classes = 2;  // no hidden layers: the heads and the output layer read the one-hot
  v.push_back({"linear_conditional", lc});
  vae::ModelConfig gs = vae_test::mlp_config({5});
  gs.likelihood = vae::Likelihood::GaussianLearnedSigma;
  v.push_back({"mlp_learned_sigma", gs});
  v.push_back({"mlp_iwae_k3", vae_test::mlp_config({5}), 3});
  v.push_back({"mlp_iwae_k1", vae_test::mlp_config({5}), 1});
  vae::ModelConfig ci = conv_config();
  ci.num_classes = 2;
  ci.likelihood = vae::Likelihood::GaussianLearnedSigma;
  v.push_back({"conv_conditional_learned_sigma_iwae_k2", ci, 2});
  v.push_back({"gated", gated_config()});
  vae::ModelConfig gc = gated_config();
  gc.num_classes = 2;
  v.push_back({"gated_conditional_iwae_k2", gc, 2});
  return v;
}

INSTANTIATE_TEST_SUITE_P(All, ModelGradient, ::testing::ValuesIn(model_cases()),
                         [](const auto& info) { return info.param.name; });

// The VAE objective with the KL estimated at the sample: recon + ½ Σ (z² − ε² − log σ²).
TEST(SampledKl, ObjectiveAndGradientMatchFiniteDifferences) {
  const vae::ModelConfig cfg = vae_test::mlp_config({5});
  const int B = 4;
  vae::Vae<double> model(cfg, B);
  vae::Rng rng(8);
  model.init_params(rng);
  const Batch b = make_batch(cfg, B, 1, rng);
  const double beta = 0.7;
  auto objective = [&] {
    const vae::LossParts p = model.forward(b.x.data(), b.eps.data(), B);
    double kl = 0;
    for (int i = 0; i < B * cfg.latent; ++i)
      kl += 0.5 * (model.z()[i] * model.z()[i] - b.eps[i] * b.eps[i] - model.logvar()[i]);
    return (p.recon + beta * kl) / B;
  };
  check_all_parameters(model, objective, [&] {
    return model.backward(b.x.data(), B, beta, 0.0, vae::KlEstimator::Sample);
  });
}

// With K = 1 the IWAE objective is the VAE objective with the sampled KL, to rounding — value
// and every gradient — for the same ε.
TEST(Iwae, OneSampleEqualsTheVaeObjectiveWithTheSampledKl) {
  for (const vae::ModelConfig& cfg : {vae_test::mlp_config({5}), conv_config()}) {
    const int B = 4;
    vae::Vae<double> model(cfg, B, 1);
    vae::Rng rng(9);
    model.init_params(rng);
    const Batch b = make_batch(cfg, B, 1, rng);
    model.zero_grad();
    model.forward(b.x.data(), b.eps.data(), B);
    const double vae_value = model.backward(b.x.data(), B, 1.0, 0.0, vae::KlEstimator::Sample);
    const std::vector<double> g_vae(model.grads(), model.grads() + model.num_params());
    model.zero_grad();
    model.forward_iw(b.x.data(), b.eps.data(), B, 1);
    const double iw_value = model.backward(b.x.data(), B);
    EXPECT_NEAR(iw_value, vae_value, 1e-12 * std::fabs(vae_value));
    for (size_t i = 0; i < model.num_params(); ++i)
      ASSERT_NEAR(model.grads()[i], g_vae[i], 1e-12 * (1 + std::fabs(g_vae[i]))) << i;
  }
}

// With the analytic KL the K = 1 objective agrees in expectation: the reconstruction terms are
// identical for the same ε, and the KL terms differ by a zero-mean amount.
TEST(Iwae, OneSampleAgreesWithTheAnalyticVaeInExpectation) {
  const vae::ModelConfig cfg = vae_test::mlp_config({5});
  const int B = 4;
  vae::Vae<double> model(cfg, B, 1);
  vae::Rng rng(10);
  model.init_params(rng);
  Batch b = make_batch(cfg, B, 1, rng);
  double sum = 0, sum_sq = 0;
  const int draws = 4000;
  for (int t = 0; t < draws; ++t) {
    rng.normal_fill(b.eps.data(), b.eps.size());
    const vae::LossParts p = model.forward(b.x.data(), b.eps.data(), B);
    const vae::LossParts q = model.forward_iw(b.x.data(), b.eps.data(), B, 1);
    ASSERT_NEAR(q.recon, p.recon, 1e-12 * std::fabs(p.recon));
    const double d = model.iw_objective() - p.total();
    sum += d;
    sum_sq += d * d;
  }
  const double mean = sum / draws, se = std::sqrt((sum_sq / draws - mean * mean) / draws);
  EXPECT_LT(std::fabs(mean), 4 * se) << "mean difference " << mean << " ± " << se;
}

// Jensen: −log (1/K) Σ w_k ≤ (1/K) Σ −log w_k for the same samples; and the weights are a
// probability vector.
TEST(Iwae, BoundIsNoLooserThanTheAverageOfItsSamples) {
  const vae::ModelConfig cfg = vae_test::mlp_config({5});
  const int B = 5, K = 6;
  vae::Vae<double> model(cfg, B, K);
  vae::Rng rng(12);
  model.init_params(rng);
  const Batch b = make_batch(cfg, B, K, rng);
  model.forward_iw(b.x.data(), b.eps.data(), B, K);
  const double iw = model.iw_objective();
  double average = 0;
  for (int k = 0; k < K; ++k) {
    std::vector<double> eps_k(b.eps.begin() + k * B * cfg.latent,
                              b.eps.begin() + (k + 1) * B * cfg.latent);
    model.forward_iw(b.x.data(), eps_k.data(), B, 1);
    average += model.iw_objective() / K;
  }
  EXPECT_LT(iw, average);
  EXPECT_GT(iw, average - 50);  // same order: a sanity bound on the log-sum-exp
}

TEST(Conditional, LabelsReachTheDecoderAndEncodeMatchesForward) {
  vae::ModelConfig cfg = conv_config();
  cfg.num_classes = 3;
  const int B = 3;
  vae::Vae<double> model(cfg, B);
  vae::Rng rng(14);
  model.init_params(rng);
  const Batch b = make_batch(cfg, B, 1, rng);
  std::vector<double> z(cfg.latent, 0.2), out0(36), out1(36);
  const int32_t y0 = 0, y1 = 2;
  model.decode(z.data(), 1, out0.data(), &y0);
  model.decode(z.data(), 1, out1.data(), &y1);
  double diff = 0;
  for (int i = 0; i < 36; ++i) diff += std::fabs(out0[i] - out1[i]);
  EXPECT_GT(diff, 1e-3);
  // The default label stands in for a missing one.
  model.set_default_label(2);
  std::vector<double> out_default(36);
  model.decode(z.data(), 1, out_default.data());
  for (int i = 0; i < 36; ++i) EXPECT_EQ(out_default[i], out1[i]);
  // encode with labels gives the training forward's posterior.
  std::vector<double> mu(B * cfg.latent), lv(B * cfg.latent);
  model.encode(b.x.data(), B, mu.data(), lv.data(), b.labels.data());
  model.forward(b.x.data(), b.eps.data(), B, b.labels.data());
  for (int i = 0; i < B * cfg.latent; ++i) {
    EXPECT_EQ(mu[i], model.mu()[i]);
    EXPECT_EQ(lv[i], model.logvar()[i]);
  }
}

TEST(ConvModel, ParameterNamesAndShapesFollowPyTorch) {
  const auto t = vae::param_table(conv_config());
  std::vector<std::string> names;
  for (const auto& p : t) names.push_back(p.name);
  const std::vector<std::string> expected = {
      "encoder.0.weight", "encoder.0.bias", "encoder.1.weight", "encoder.1.bias",
      "encoder.mu.weight", "encoder.mu.bias", "encoder.logvar.weight", "encoder.logvar.bias",
      "decoder.0.weight", "decoder.0.bias", "decoder.out.weight", "decoder.out.bias"};
  EXPECT_EQ(names, expected);
  EXPECT_EQ(t[0].shape, (std::vector<int64_t>{3, 1, 3, 3}));    // Conv2d (C_out, C_in, K, K)
  EXPECT_EQ(t[2].shape, (std::vector<int64_t>{5, 27}));         // dense on the flattened 3×3×3
  EXPECT_EQ(t[10].shape, (std::vector<int64_t>{3, 1, 4, 4}));   // ConvTranspose2d (C_in, C_out, K, K)
  vae::ModelConfig c = conv_config();
  c.num_classes = 3;
  const auto tc = vae::param_table(c);
  EXPECT_EQ(tc[2].shape, (std::vector<int64_t>{5, 30}));  // [features, one-hot]
  EXPECT_EQ(tc[8].shape, (std::vector<int64_t>{12, 5}));  // [z, one-hot]
}

TEST(ConvModel, FloatAgreesWithDouble) {
  const vae::ModelConfig cfg = conv_config();
  const int B = 4;
  vae::Vae<double> md(cfg, B);
  vae::Vae<float> mf(cfg, B);
  vae::Rng rng(3);
  md.init_params(rng);
  std::copy(md.params(), md.params() + md.num_params(), mf.params());
  const Batch b = make_batch(cfg, B, 1, rng);
  std::vector<float> xf(b.x.begin(), b.x.end()), ef(b.eps.begin(), b.eps.end());
  const auto ld = md.forward(b.x.data(), b.eps.data(), B);
  const auto lf = mf.forward(xf.data(), ef.data(), B);
  EXPECT_NEAR(lf.recon, ld.recon, 1e-4 * std::fabs(ld.recon));
  EXPECT_NEAR(lf.kl, ld.kl, 1e-4 * std::fabs(ld.kl) + 1e-6);
}

}  // namespace
