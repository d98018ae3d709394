// The model with the VampPrior (src/model/vae.cpp, model/priors/vamp.h): the gradient of the
// whole objective — the ELBO with the KL estimated at the drawn z, and the importance-weighted
// bound — against finite differences in double for every parameter, the pseudo-inputs and the
// encoder's weights (reached twice: through the pass on x and through the pseudo-input pass)
// among them; the gradient of data-parallel halves summing to the whole batch's; the prior's
// log-density and sampling against the mixture computed here from the encoder's own outputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "layer_specs.h"
#include "vae/model.h"

namespace {

constexpr double kLog2Pi = 1.8378770664093454835606594728112;

// A small VampPrior model: the shared small MLP (tests/layer_specs.h), or gated layers.
vae::ModelConfig vamp_config(std::vector<int> hidden, int pseudo_inputs,
                             vae::Likelihood likelihood = vae::Likelihood::Bernoulli) {
  vae::ModelConfig c = vae_test::mlp_config(std::move(hidden));
  c.likelihood = likelihood;
  c.sigma = 0.7;
  c.prior = vae::Prior::Vamp;
  c.pseudo_inputs = pseudo_inputs;
  return c;
}

vae::ModelConfig gated_vamp_config() {
  vae::ModelConfig c = vae_test::custom_config(
      3, 2, vae::Activation::Tanh, {vae::gated_dense_layer(4)},
      {vae::gated_dense_layer(4), vae::dense_layer(9)});
  c.prior = vae::Prior::Vamp;
  c.pseudo_inputs = 4;
  return c;
}

// Parameters spread wider than the initialisation (and pseudo-inputs spread over [0, 1]) so the
// mixture's components differ and every responsibility matters.
void spread(vae::Vae<double>& model, vae::Rng& rng) {
  for (const vae::ParamInfo& p : model.params_info()) {
    double* t = model.params() + p.offset;
    for (size_t i = 0; i < p.numel; ++i)
      t[i] = p.name == "prior.pseudo_inputs" ? rng.uniform() : 2.5 * t[i];
  }
}

struct Case {
  std::string name;
  vae::ModelConfig cfg;
};

class VampGradient : public ::testing::TestWithParam<Case> {};

TEST_P(VampGradient, ElboWithTheSampledKlMatchesFiniteDifferencesForEveryParameter) {
  const vae::ModelConfig cfg = GetParam().cfg;
  const int B = 4;
  vae::Vae<double> model(cfg, B);
  vae::Rng rng(31);
  model.init_params(rng);
  spread(model, rng);
  std::vector<double> x(B * cfg.input_dim), eps(B * cfg.latent);
  vae_test::fill_uniform(x, rng, 0, 1);
  rng.normal_fill(eps.data(), eps.size());
  const double beta = 0.6;

  // recon + β·(log q(z|x) − log p(z)), batch mean, ε held fixed; the KL written out here from
  // the model's μ, log σ², z and the mixture of the encoder's outputs at the pseudo-inputs.
  const size_t u_at = [&] {
    for (const vae::ParamInfo& p : model.params_info())
      if (p.name == "prior.pseudo_inputs") return p.offset;
    return size_t{0};
  }();
  const int K = cfg.pseudo_inputs, Z = cfg.latent, D = cfg.input_dim;
  auto objective = [&] {
    const vae::LossParts parts = model.forward(x.data(), eps.data(), B);
    std::vector<double> z(model.z(), model.z() + B * Z), lv(model.logvar(), model.logvar() + B * Z);
    std::vector<double> u(model.params() + u_at, model.params() + u_at + K * D);
    vae::Vae<double> enc(cfg, K);  // the pseudo-inputs' posteriors, by a second model
    std::copy(model.params(), model.params() + model.num_params(), enc.params());
    std::vector<double> mk(K * Z), lk(K * Z);
    enc.encode(u.data(), K, mk.data(), lk.data());
    double kl = 0;
    for (int b = 0; b < B; ++b) {
      double log_q = 0, top = -1e300;
      std::vector<double> ell(K);
      for (int j = 0; j < Z; ++j) log_q += -0.5 * (kLog2Pi + lv[b * Z + j] + eps[b * Z + j] * eps[b * Z + j]);
      for (int k = 0; k < K; ++k) {
        ell[k] = 0;
        for (int j = 0; j < Z; ++j) {
          const double d = z[b * Z + j] - mk[k * Z + j];
          ell[k] += -0.5 * (kLog2Pi + lk[k * Z + j] + d * d / std::exp(lk[k * Z + j]));
        }
        top = std::max(top, ell[k]);
      }
      double s = 0;
      for (double e : ell) s += std::exp(e - top);
      kl += log_q - (top + std::log(s) - std::log(K));
    }
    EXPECT_NEAR(parts.kl, kl, 1e-9 * (1 + std::fabs(kl)));
    return parts.recon / B + beta * kl / B;
  };
  const double expected = objective();
  model.zero_grad();
  model.forward(x.data(), eps.data(), B);
  EXPECT_NEAR(model.backward(x.data(), B, beta), expected, 1e-10);
  std::vector<double> grad(model.grads(), model.grads() + model.num_params());
  for (const vae::ParamInfo& p : model.params_info())
    vae_test::check_gradient(p.name, model.params() + p.offset, grad.data() + p.offset, p.numel,
                             objective, 1e-6, 1e-5, 1e-8);
  // The pseudo-inputs and the encoder's first weights get a gradient (the check is not vacuous).
  double u_norm = 0;
  for (int i = 0; i < K * D; ++i) u_norm += std::fabs(grad[u_at + i]);
  EXPECT_GT(u_norm, 1e-3);
}

TEST_P(VampGradient, ImportanceWeightedBoundMatchesFiniteDifferencesForEveryParameter) {
  const vae::ModelConfig cfg = GetParam().cfg;
  const int B = 3, S = 4;
  vae::Vae<double> model(cfg, B, S);
  vae::Rng rng(32);
  model.init_params(rng);
  spread(model, rng);
  std::vector<double> x(B * cfg.input_dim), eps(S * B * cfg.latent);
  vae_test::fill_uniform(x, rng, 0, 1);
  rng.normal_fill(eps.data(), eps.size());
  auto objective = [&] {
    model.forward_iw(x.data(), eps.data(), B, S);
    return model.iw_objective() / B;
  };
  const double expected = objective();
  model.zero_grad();
  objective();
  EXPECT_NEAR(model.backward(x.data(), B), expected, 1e-12);
  std::vector<double> grad(model.grads(), model.grads() + model.num_params());
  for (const vae::ParamInfo& p : model.params_info())
    vae_test::check_gradient(p.name, model.params() + p.offset, grad.data() + p.offset, p.numel,
                             objective, 1e-6, 1e-5, 1e-8);
}

INSTANTIATE_TEST_SUITE_P(Models, VampGradient,
                         ::testing::Values(Case{"mlp", vamp_config({5}, 3)},
                                           Case{"linear_gaussian",
                                                vamp_config({}, 2, vae::Likelihood::Gaussian)},
                                           Case{"gated", gated_vamp_config()}),
                         [](const auto& info) { return info.param.name; });

// Data-parallel training sums the parts' gradients weighted by their share of the batch: with the
// pseudo-input pass run by each part, two halves must give the whole batch's gradient.
TEST(VampModel, HalvesOfABatchSumToTheWholeBatchGradient) {
  const vae::ModelConfig cfg = vamp_config({5}, 3);
  const int B = 6;
  vae::Vae<double> whole(cfg, B), part(cfg, B);
  vae::Rng rng(33);
  whole.init_params(rng);
  spread(whole, rng);
  std::copy(whole.params(), whole.params() + whole.num_params(), part.params());
  std::vector<double> x(B * cfg.input_dim), eps(B * cfg.latent);
  vae_test::fill_uniform(x, rng, 0, 1);
  rng.normal_fill(eps.data(), eps.size());
  whole.zero_grad();
  whole.forward(x.data(), eps.data(), B);
  whole.backward(x.data(), B);
  std::vector<double> sum(whole.num_params(), 0.0);
  for (int h = 0; h < 2; ++h) {
    const int b0 = h * B / 2, n = B / 2;
    part.zero_grad();
    part.forward(x.data() + b0 * cfg.input_dim, eps.data() + b0 * cfg.latent, n);
    part.backward(x.data() + b0 * cfg.input_dim, n);
    for (size_t i = 0; i < sum.size(); ++i) sum[i] += part.grads()[i] * n / B;
  }
  for (size_t i = 0; i < sum.size(); ++i)
    ASSERT_NEAR(sum[i], whole.grads()[i], 1e-12 * (1 + std::fabs(sum[i]))) << i;
}

// log_prior is the mixture of the encoder's posteriors at the pseudo-inputs, and sample_prior
// draws from it: each draw lies where one component puts it (z = μ_k + σ_k ⊙ ε for the ε the
// same Rng gives), and the draws use every component about equally often.
TEST(VampModel, LogPriorAndSamplingFollowTheEncodedPseudoInputs) {
  vae::ModelConfig cfg = vamp_config({5}, 3);
  vae::Vae<double> model(cfg, 4, 100);
  vae::Rng rng(34);
  model.init_params(rng);
  spread(model, rng);
  const int K = cfg.pseudo_inputs, Z = cfg.latent, D = cfg.input_dim;
  size_t u_at = 0;
  for (const vae::ParamInfo& p : model.params_info())
    if (p.name == "prior.pseudo_inputs") u_at = p.offset;
  std::vector<double> mk(K * Z), lk(K * Z);
  model.encode(model.params() + u_at, K, mk.data(), lk.data());

  const size_t n = 300;
  std::vector<double> z(n * Z), eps(n * Z);
  vae::Rng a(7), b(7);
  model.sample_prior(z.data(), n, a);
  b.normal_fill(eps.data(), eps.size());
  std::vector<int> used(K, 0);
  for (size_t i = 0; i < n; ++i) {
    const int k = static_cast<int>(b.below(K));
    ++used[k];
    for (int j = 0; j < Z; ++j)
      ASSERT_NEAR(z[i * Z + j], mk[k * Z + j] + std::exp(0.5 * lk[k * Z + j]) * eps[i * Z + j],
                  1e-12);
  }
  for (int k = 0; k < K; ++k) EXPECT_GT(used[k], 60) << k;  // 100 expected of each

  std::vector<double> logp(n);
  model.log_prior(z.data(), static_cast<int>(n), logp.data());
  for (size_t i = 0; i < n; ++i) {
    double s = 0;
    for (int k = 0; k < K; ++k) {
      double l = 0;
      for (int j = 0; j < Z; ++j) {
        const double d = z[i * Z + j] - mk[k * Z + j];
        l += -0.5 * (kLog2Pi + lk[k * Z + j] + d * d / std::exp(lk[k * Z + j]));
      }
      s += std::exp(l);
    }
    ASSERT_NEAR(logp[i], std::log(s / K), 1e-10);
  }
  (void)D;
}

// The standard prior's draws are what they always were: rng.normal_fill.
TEST(VampModel, StandardPriorSamplesAreTheNormalDraws) {
  vae::ModelConfig cfg = vamp_config({5}, 3);
  cfg.prior = vae::Prior::Standard;
  vae::Vae<float> model(cfg, 4);
  std::vector<float> z(12), e(12);
  vae::Rng a(3), b(3);
  model.sample_prior(z.data(), 4, a);
  b.normal_fill(e.data(), e.size());
  EXPECT_EQ(z, e);
}

}  // namespace
