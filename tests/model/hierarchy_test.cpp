// The hierarchical VAE (src/model/hierarchy.cpp, model/hierarchy.h): the closed-form KL of two
// diagonal Gaussians and the log-ratio at a sample against their exact values; the gradient of
// the whole objective — the ELBO and the importance-weighted bound — against finite differences
// in double for every parameter (the stacks of q(z1|x, z2) and p(z1|z2) among them), MLP and
// gated; the configuration's checks, JSON forms and parameter layout.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "layer_specs.h"
#include "model/hierarchy.h"
#include "vae/error.h"
#include "vae/model.h"

namespace {

constexpr double kLog2Pi = 1.8378770664093454835606594728112;

// ---- The math -------------------------------------------------------------------------------

// KL(N(μ_q, σ²_q) ‖ N(μ_p, σ²_p)) = log(σ_p/σ_q) + (σ²_q + (μ_q − μ_p)²) / (2σ²_p) − ½ per
// dimension, written out here for two dimensions.
TEST(HierarchyMath, PairKlIsTheClosedFormOfTwoGaussians) {
  const double qmu[2] = {0.3, -1.0}, qlv[2] = {std::log(0.5), std::log(2.0)};
  const double pmu[2] = {-0.2, 0.5}, plv[2] = {std::log(1.5), std::log(0.25)};
  double expected = 0;
  for (int j = 0; j < 2; ++j) {
    const double vq = std::exp(qlv[j]), vp = std::exp(plv[j]), d = qmu[j] - pmu[j];
    expected += 0.5 * std::log(vp / vq) + (vq + d * d) / (2 * vp) - 0.5;
  }
  double row = 0;
  EXPECT_NEAR(vae::gaussian_pair_kl_forward(&row, qmu, qlv, pmu, plv, 1, 2), expected, 1e-12);
  EXPECT_NEAR(row, expected, 1e-12);
  EXPECT_NEAR(vae::gaussian_pair_kl_forward<double>(nullptr, qmu, qlv, qmu, qlv, 1, 2), 0.0,
              1e-12);
}

// log q(z) − log p(z) at z = μ_q + σ_q ε against the two log-densities computed separately.
TEST(HierarchyMath, RatioAtTheSampleIsTheDifferenceOfTheLogDensities) {
  const double qmu[3] = {0.3, -1.0, 0.0}, qlv[3] = {-0.7, 0.4, 0.1};
  const double pmu[3] = {-0.2, 0.5, 1.0}, plv[3] = {0.2, -1.1, 0.0};
  const double eps[3] = {0.9, -0.4, 1.7};
  double z[3];
  for (int j = 0; j < 3; ++j) z[j] = qmu[j] + std::exp(0.5 * qlv[j]) * eps[j];
  const double expected =
      vae::gaussian_log_density(z, qmu, qlv, 3) - vae::gaussian_log_density(z, pmu, plv, 3);
  EXPECT_NEAR(vae::gaussian_ratio_sample_forward<double>(nullptr, z, eps, qlv, pmu, plv, 1, 3),
              expected, 1e-12);
  double standard = 0;
  const double zero[3] = {0, 0, 0};
  for (int j = 0; j < 3; ++j) standard += -0.5 * (kLog2Pi + z[j] * z[j]);
  EXPECT_NEAR(vae::gaussian_log_density(z, zero, zero, 3), standard, 1e-12);
}

// ---- The model's gradient -------------------------------------------------------------------

// Z = 3: z1 has 2 values, z2 1. The shared small MLP, or gated layers (no activation after a
// gate), with a Gaussian likelihood for the second so every term of the objective is smooth; or
// a convolutional encoder (the ConvHVAE), whose convolutions q(z1|x, z2) repeats on x before its
// dense layer reads [f, z2] — with a dense layer after them, or none (the heads read [f, z2]).
vae::ModelConfig mlp_hvae() {
  vae::ModelConfig c = vae_test::mlp_config({4});
  c.top_latent = 1;
  return c;
}

vae::ModelConfig gated_hvae() {
  vae::ModelConfig c = vae_test::custom_config(3, 3, vae::Activation::Tanh,
                                               {vae::gated_dense_layer(4)},
                                               {vae::gated_dense_layer(4), vae::dense_layer(9)});
  c.top_latent = 2;
  c.likelihood = vae::Likelihood::Gaussian;
  c.sigma = 0.8;
  return c;
}

vae::ModelConfig conv_hvae(std::vector<vae::LayerSpec> encoder) {
  vae::ModelConfig c = vae_test::custom_config(6, 3, vae::Activation::Tanh, std::move(encoder),
                                               {vae::dense_layer(36)});
  c.top_latent = 1;
  c.likelihood = vae::Likelihood::Gaussian;
  c.sigma = 0.8;
  return c;
}

struct Case {
  std::string name;
  vae::ModelConfig cfg;
};

class HierarchyGradient : public ::testing::TestWithParam<Case> {
 protected:
  // The model with its parameters spread wider than the initialisation, so the stacks of
  // q(z1|x, z2) and p(z1|z2) give posteriors and priors well apart; x and ε drawn.
  void make(int B, int K) {
    const vae::ModelConfig& cfg = GetParam().cfg;
    model_ = std::make_unique<vae::Vae<double>>(cfg, B, K);
    vae::Rng rng(17);
    model_->init_params(rng);
    for (size_t i = 0; i < model_->num_params(); ++i) model_->params()[i] *= 2.0;
    x_.resize(static_cast<size_t>(B) * cfg.input_dim);
    eps_.resize(static_cast<size_t>(B) * K * cfg.latent);
    vae_test::fill_uniform(x_, rng, 0, 1);
    rng.normal_fill(eps_.data(), eps_.size());
  }
  void check_every_parameter(const std::function<double()>& objective, double analytic_value) {
    EXPECT_NEAR(analytic_value, objective(), 1e-10 * std::max(1.0, std::fabs(analytic_value)));
    std::vector<double> grad(model_->grads(), model_->grads() + model_->num_params());
    bool saw_q1 = false, saw_p1 = false;
    for (const vae::ParamInfo& p : model_->params_info()) {
      saw_q1 |= p.name.rfind("encoder_z1.", 0) == 0;
      saw_p1 |= p.name.rfind("prior_z1.", 0) == 0;
      vae_test::check_gradient(p.name, model_->params() + p.offset, grad.data() + p.offset,
                               p.numel, objective);
    }
    EXPECT_TRUE(saw_q1 && saw_p1);
    // Backward accumulates: a second pass without zero_grad doubles every gradient.
    objective();
    run_backward_();
    for (size_t i = 0; i < grad.size(); ++i)
      ASSERT_NEAR(model_->grads()[i], 2 * grad[i], 1e-12 * std::max(1.0, std::fabs(grad[i]))) << i;
  }
  std::function<double()> run_backward_;
  std::unique_ptr<vae::Vae<double>> model_;
  std::vector<double> x_, eps_;
};

TEST_P(HierarchyGradient, ElboMatchesFiniteDifferencesForEveryParameter) {
  const int B = 3;
  make(B, 1);
  const double beta = 0.7;
  auto objective = [&] {
    const vae::LossParts l = model_->forward(x_.data(), eps_.data(), B);
    return (l.recon + beta * l.kl) / B;
  };
  run_backward_ = [&] { return model_->backward(x_.data(), B, beta); };
  model_->zero_grad();
  objective();
  check_every_parameter(objective, run_backward_());
}

TEST_P(HierarchyGradient, ImportanceWeightedBoundMatchesFiniteDifferencesForEveryParameter) {
  const int B = 2, K = 3;
  make(B, K);
  auto objective = [&] {
    model_->forward_iw(x_.data(), eps_.data(), B, K);
    return model_->iw_objective() / B;
  };
  run_backward_ = [&] { return model_->backward(x_.data(), B); };
  model_->zero_grad();
  objective();
  check_every_parameter(objective, run_backward_());
}

INSTANTIATE_TEST_SUITE_P(
    Stacks, HierarchyGradient,
    ::testing::Values(Case{"mlp", mlp_hvae()}, Case{"gated", gated_hvae()},
                      Case{"conv", conv_hvae({vae::conv_layer(2, 3, 2, 1), vae::dense_layer(4)})},
                      Case{"conv_only", conv_hvae({vae::conv_layer(2, 3, 2, 1)})}),
    [](const auto& info) { return info.param.name; });

// With K = 1 the bound's log w is the one-sample ELBO with both KL terms estimated at the
// sample; their mean over many draws is that of the closed forms given the drawn z2 (paired
// differences, within 4 standard errors).
TEST(Hierarchy, SampledKlAveragesToTheClosedForm) {
  const vae::ModelConfig cfg = mlp_hvae();
  const int draws = 20000;
  vae::Vae<double> model(cfg, 1);
  vae::Rng rng(5);
  model.init_params(rng);
  std::vector<double> x(cfg.input_dim), eps(cfg.latent);
  vae_test::fill_uniform(x, rng, 0, 1);
  double mean = 0, sq = 0;
  for (int d = 0; d < draws; ++d) {
    rng.normal_fill(eps.data(), eps.size());
    const vae::LossParts iw = model.forward_iw(x.data(), eps.data(), 1, 1);
    double log_w = 0;
    model.iw_log_weights(&log_w);
    const double diff = (-log_w - iw.recon) - iw.kl;  // sampled − closed form
    mean += diff / draws;
    sq += diff * diff / draws;
  }
  const double se = std::sqrt((sq - mean * mean) / draws);
  EXPECT_GT(se, 1e-4);  // the two differ draw by draw
  EXPECT_NEAR(mean, 0.0, 4 * se);
  // The training forward's KL is the closed form at the same z2.
  const double closed = model.forward_iw(x.data(), eps.data(), 1, 1).kl;
  EXPECT_NEAR(model.forward(x.data(), eps.data(), 1).kl, closed, 1e-12);
}

// ---- Configuration --------------------------------------------------------------------------

TEST(HierarchyConfig, RefusesWhatItCannotBuildNamingTheField) {
  auto message = [](vae::ModelConfig c) {
    try {
      c.validate();
    } catch (const vae::FieldError& e) {
      return e.field() + ": " + e.problem();
    }
    return std::string("accepted");
  };
  vae::ModelConfig c = mlp_hvae();
  c.top_latent = 3;
  EXPECT_EQ(message(c).rfind("top_latent: must be in 0..2", 0), 0u) << message(c);
  c = mlp_hvae();
  c.prior = vae::Prior::Vamp;
  EXPECT_EQ(message(c).rfind("top_latent: a two-layer model takes the standard prior", 0), 0u);
  c = mlp_hvae();
  c.num_classes = 2;
  EXPECT_EQ(message(c).rfind("top_latent: a two-layer model must be unconditional", 0), 0u);
  // The layers after the first convolution read z2's 18 values (as a 2×3×3 image), so they are
  // the ones repeated; but [f, z2] has 36, which the reshape cannot read.
  c = vae_test::custom_config(
      6, 19, vae::Activation::Tanh,
      {vae::conv_layer(2, 3, 2, 1), vae::reshape_layer(2, 3, 3), vae::conv_layer(2, 3, 1, 1)},
      {vae::dense_layer(36)});
  c.top_latent = 18;
  EXPECT_EQ(message(c).rfind("top_latent: the encoder's flat layers are repeated", 0), 0u)
      << message(c);
  EXPECT_EQ(message(mlp_hvae()), "accepted");
  EXPECT_EQ(message(conv_hvae({vae::conv_layer(2, 3, 2, 1), vae::dense_layer(4)})), "accepted");
}

TEST(HierarchyConfig, JsonFormsKeepItAndTheLayoutNamesTheStacks) {
  const vae::ModelConfig c = mlp_hvae();
  EXPECT_EQ(vae::ModelConfig::from_json(c.to_json(), "m").top_latent, 1);
  EXPECT_EQ(vae::parse_model_config(c.to_description(), "d", vae::ModelConfig()).top_latent, 1);
  EXPECT_EQ(vae::ModelConfig::from_json(vae_test::mlp_config({4}).to_json(), "m").top_latent, 0);
  EXPECT_NE(c.describe().find("two layers z1 2 + z2 1"), std::string::npos) << c.describe();
  std::vector<std::string> names;
  std::vector<std::vector<int64_t>> shapes;
  for (const vae::ParamInfo& p : vae::param_table(c)) {
    names.push_back(p.name);
    shapes.push_back(p.shape);
  }
  auto shape_of = [&](const std::string& name) {
    const auto at = std::find(names.begin(), names.end(), name);
    return at == names.end() ? std::vector<int64_t>{} : shapes[at - names.begin()];
  };
  // D = 6, hidden 4: q(z2|x) heads of 1; q(z1|x, z2) reads [x, z2] (7); p(z1|z2) reads z2 (1);
  // the decoder reads z = [z1, z2] (3).
  EXPECT_EQ(shape_of("encoder.mu.weight"), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(shape_of("encoder_z1.0.weight"), (std::vector<int64_t>{4, 7}));
  EXPECT_EQ(shape_of("encoder_z1.logvar.weight"), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(shape_of("prior_z1.0.weight"), (std::vector<int64_t>{4, 1}));
  EXPECT_EQ(shape_of("prior_z1.mu.weight"), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(shape_of("decoder.0.weight"), (std::vector<int64_t>{4, 3}));
}

// The ConvHVAE's layout: q(z1|x, z2) repeats the convolution on x ("encoder_z1.0", 2×3×3 = 18
// features f) and its dense layer, which keeps the encoder's index, reads [f, z2] (19);
// p(z1|z2) repeats only the dense layer, on z2.
TEST(HierarchyConfig, AConvEncodersConvolutionsAreRepeatedOnXAndItsDenseLayersOnFeatures) {
  std::vector<std::string> names;
  std::vector<std::vector<int64_t>> shapes;
  for (const vae::ParamInfo& p :
       vae::param_table(conv_hvae({vae::conv_layer(2, 3, 2, 1), vae::dense_layer(4)}))) {
    names.push_back(p.name);
    shapes.push_back(p.shape);
  }
  auto shape_of = [&](const std::string& name) {
    const auto at = std::find(names.begin(), names.end(), name);
    return at == names.end() ? std::vector<int64_t>{} : shapes[at - names.begin()];
  };
  EXPECT_EQ(shape_of("encoder_z1.0.weight"), (std::vector<int64_t>{2, 1, 3, 3}));
  EXPECT_EQ(shape_of("encoder_z1.1.weight"), (std::vector<int64_t>{4, 19}));
  EXPECT_EQ(shape_of("encoder_z1.mu.weight"), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(shape_of("prior_z1.0.weight"), (std::vector<int64_t>{}));
  EXPECT_EQ(shape_of("prior_z1.1.weight"), (std::vector<int64_t>{4, 1}));
  EXPECT_EQ(shape_of("prior_z1.mu.weight"), (std::vector<int64_t>{2, 4}));
}

}  // namespace
