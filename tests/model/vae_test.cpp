// The whole model: the negative ELBO's gradient with respect to every parameter against finite
// differences (double precision, ε pinned), for each activation and a two-layer stack; the
// parameter layout; float against double; encode/decode against the training forward; the
// backward hook's slices (final when reported, covering the gradient once).
#include "vae/model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "gradcheck.h"
#include "layer_specs.h"
#include "vae/error.h"

namespace {

vae::ModelConfig tiny_config(vae::Activation act, std::vector<int> hidden,
                             vae::Likelihood likelihood = vae::Likelihood::Bernoulli) {
  vae::ModelConfig c;
  c.likelihood = likelihood;
  c.sigma = 0.7;
  c.input_dim = 6;
  c.hidden = std::move(hidden);
  c.latent = 3;
  c.activation = act;
  c.height = 2;
  c.width = 3;
  c.channels = 1;
  return c;
}

struct Case {
  vae::Activation act;
  std::vector<int> hidden;
  vae::Likelihood likelihood = vae::Likelihood::Bernoulli;
};

class VaeGradient : public ::testing::TestWithParam<Case> {};

TEST_P(VaeGradient, NegativeElboGradientMatchesFiniteDifferencesForEveryParameter) {
  const vae::ModelConfig cfg = tiny_config(GetParam().act, GetParam().hidden, GetParam().likelihood);
  const int B = 4;
  vae::Vae<double> model(cfg, B);
  vae::Rng rng(10);
  model.init_params(rng);
  std::vector<double> x(B * cfg.input_dim), eps(B * cfg.latent);
  vae_test::fill_uniform(x, rng, 0, 1);
  rng.normal_fill(eps.data(), eps.size());

  // The objective is the mean over the batch of recon + KL, with ε held fixed.
  auto loss = [&] { return model.forward(x.data(), eps.data(), B).total() / B; };
  model.zero_grad();
  loss();
  model.backward(x.data(), B);
  std::vector<double> grad(model.grads(), model.grads() + model.num_params());

  // A kink crossed by a finite-difference step would show as a spurious mismatch; with these
  // seeds no pre-activation sits within h of 0 (checked by the test passing for leaky/elu too).
  for (const vae::ParamInfo& p : model.params_info())
    vae_test::check_gradient(p.name, model.params() + p.offset, grad.data() + p.offset, p.numel,
                             loss, 1e-6, 1e-5, 1e-8);

  // Accumulate rule: a second backward without zero_grad doubles every gradient.
  loss();
  model.backward(x.data(), B);
  for (size_t i = 0; i < model.num_params(); ++i)
    ASSERT_NEAR(model.grads()[i], 2 * grad[i], 1e-12 + 1e-12 * std::fabs(grad[i]));
}

INSTANTIATE_TEST_SUITE_P(
    All, VaeGradient,
    ::testing::Values(Case{vae::Activation::Relu, {5}}, Case{vae::Activation::Tanh, {5}},
                      Case{vae::Activation::LeakyRelu, {5}}, Case{vae::Activation::Elu, {5}},
                      Case{vae::Activation::Tanh, {5, 4}}, Case{vae::Activation::Relu, {7, 4}},
                      Case{vae::Activation::Tanh, {5}, vae::Likelihood::Gaussian},
                      Case{vae::Activation::Relu, {}, vae::Likelihood::Gaussian},
                      Case{vae::Activation::Relu, {}, vae::Likelihood::Bernoulli}),
    [](const auto& info) {
      std::string name = vae::likelihood_kind_name(info.param.likelihood) + std::string("_") +
                         vae::activation_name(info.param.act);
      for (int h : info.param.hidden) name += "_" + std::to_string(h);
      return name;
    });

// Records every slice backward() reports, with a copy of its values at that moment.
class SliceRecorder final : public vae::BackwardHook {
 public:
  explicit SliceRecorder(const vae::Vae<double>& model) : model_(model) {}
  void gradient_ready(size_t i, vae::GradRange range) override {
    indices.push_back(i);
    ranges.push_back(range);
    values.emplace_back(model_.grads() + range.lo, model_.grads() + range.hi);
  }
  std::vector<size_t> indices;
  std::vector<vae::GradRange> ranges;
  std::vector<std::vector<double>> values;

 private:
  const vae::Vae<double>& model_;
};

// backward_ranges() covers the gradient once; one backward (K = 1: the ELBO, else the IW bound)
// reports them in that order, each holding then the value it ends with — and a nonzero one, so
// that a slice reported before its last write would show; without the hook nothing is reported.
void check_backward_hook(const vae::ModelConfig& cfg, int K) {
  SCOPED_TRACE(cfg.describe() + ", K " + std::to_string(K));
  const int B = 4;
  vae::Vae<double> model(cfg, B, K);
  vae::Rng rng(21);
  model.init_params(rng);
  std::vector<int> cover(model.num_params(), 0);
  for (const vae::GradRange& r : model.backward_ranges())
    for (size_t j = r.lo; j < r.hi; ++j) ++cover[j];
  for (size_t j = 0; j < cover.size(); ++j) ASSERT_EQ(cover[j], 1) << "parameter " << j;

  std::vector<double> x(B * cfg.input_dim), eps(static_cast<size_t>(K) * B * cfg.latent);
  vae_test::fill_uniform(x, rng, 0, 1);
  rng.normal_fill(eps.data(), eps.size());
  const std::vector<int32_t> labels = {0, 1, 2, 1};
  const int32_t* y = cfg.num_classes ? labels.data() : nullptr;
  SliceRecorder rec(model);
  model.set_backward_hook(&rec);
  const auto pass = [&] {
    model.zero_grad();
    if (K > 1) model.forward_iw(x.data(), eps.data(), B, K, y);
    else model.forward(x.data(), eps.data(), B, y);
    model.backward(x.data(), B);
  };
  pass();
  ASSERT_EQ(rec.ranges, model.backward_ranges());
  for (size_t i = 0; i < rec.ranges.size(); ++i) {
    EXPECT_EQ(rec.indices[i], i);
    const vae::GradRange r = rec.ranges[i];
    bool nonzero = false;
    for (size_t j = r.lo; j < r.hi; ++j) {
      ASSERT_EQ(rec.values[i][j - r.lo], model.grads()[j]) << "slice " << i << ", parameter " << j;
      nonzero = nonzero || model.grads()[j] != 0;
    }
    EXPECT_TRUE(nonzero) << "slice " << i;
  }
  model.set_backward_hook(nullptr);
  pass();
  EXPECT_EQ(rec.ranges.size(), model.backward_ranges().size());
}

TEST(Vae, BackwardHookReportsEverySliceOnceWhenItIsFinal) {
  vae::ModelConfig mlp = tiny_config(vae::Activation::Tanh, {5, 4});
  vae::ModelConfig learned = tiny_config(vae::Activation::Tanh, {5}, vae::Likelihood::GaussianLearnedSigma);
  vae::ModelConfig conditional = tiny_config(vae::Activation::Tanh, {5});
  conditional.num_classes = 3;
  vae::ModelConfig vamp = tiny_config(vae::Activation::Tanh, {5}, vae::Likelihood::GaussianLearnedSigma);
  vamp.prior = vae::Prior::Vamp;
  vamp.pseudo_inputs = 3;
  const vae::ModelConfig conv = vae_test::custom_config(
      6, 2, vae::Activation::Tanh, {vae::conv_layer(3, 3, 2, 1), vae::dense_layer(5)},
      {vae::dense_layer(12), vae::reshape_layer(3, 2, 2), vae::conv_transpose_layer(1, 4, 2, 0)});
  vae::ModelConfig hierarchy = tiny_config(vae::Activation::Tanh, {5}, vae::Likelihood::GaussianLearnedSigma);
  hierarchy.top_latent = 1;  // two stochastic layers: z1 (2) below z2 (1)
  for (const vae::ModelConfig& cfg : {mlp, learned, conditional, vamp, conv, hierarchy}) {
    check_backward_hook(cfg, 1);
    check_backward_hook(cfg, 3);
  }
  // The default model's slices, in backward order: the decoder's output layer, its hidden
  // layer, the two heads, the encoder's layer.
  const vae::Vae<float> def(vae::ModelConfig{}, 1);
  const size_t enc = 784 * 400 + 400, head = 400 * 20 + 20, dec0 = 20 * 400 + 400;
  const std::vector<vae::GradRange> want = {{enc + 2 * head + dec0, def.num_params()},
                                            {enc + 2 * head, enc + 2 * head + dec0},
                                            {enc, enc + head},
                                            {enc + head, enc + 2 * head},
                                            {0, enc}};
  EXPECT_EQ(def.backward_ranges(), want);
}

TEST(Vae, ParamTableOfTheDefaultModel) {
  const vae::ModelConfig cfg;  // 784-400-20
  const auto t = vae::param_table(cfg);
  ASSERT_EQ(t.size(), 10u);
  EXPECT_EQ(t[0].name, "encoder.0.weight");
  EXPECT_EQ(t[0].shape, (std::vector<int64_t>{400, 784}));
  EXPECT_EQ(t[2].name, "encoder.mu.weight");
  EXPECT_EQ(t[4].name, "encoder.logvar.weight");
  EXPECT_EQ(t[8].name, "decoder.out.weight");
  EXPECT_EQ(t[8].shape, (std::vector<int64_t>{784, 400}));
  // 784·400+400 + 2·(400·20+20) + 20·400+400 + 400·784+784
  EXPECT_EQ(vae::param_count(cfg), 652824u);
  for (size_t i = 1; i < t.size(); ++i) EXPECT_EQ(t[i].offset, t[i - 1].offset + t[i - 1].numel);
}

TEST(Vae, InitialisationFollowsFanIn) {
  const vae::ModelConfig cfg;
  vae::Vae<float> model(cfg, 2);
  vae::Rng rng(1);
  model.init_params(rng);
  for (const vae::ParamInfo& p : model.params_info()) {
    const int fan_in = p.shape.size() == 2 ? static_cast<int>(p.shape[1])
                                           : (p.name.find("encoder.0") == 0 ? 784 : -1);
    if (fan_in < 0) continue;
    const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
    float lo = 1, hi = -1;
    for (size_t i = 0; i < p.numel; ++i) {
      lo = std::min(lo, model.params()[p.offset + i]);
      hi = std::max(hi, model.params()[p.offset + i]);
    }
    EXPECT_GE(lo, -bound) << p.name;
    EXPECT_LE(hi, bound) << p.name;
    if (p.numel > 1000) {
      EXPECT_GT(hi - lo, 1.9f * bound) << p.name;  // spans the interval
    }
  }
}

TEST(Vae, FloatForwardAgreesWithDouble) {
  const vae::ModelConfig cfg = tiny_config(vae::Activation::Relu, {8});
  const int B = 5;
  vae::Vae<double> md(cfg, B);
  vae::Vae<float> mf(cfg, B);
  vae::Rng rng(3);
  md.init_params(rng);
  std::copy(md.params(), md.params() + md.num_params(), mf.params());
  std::vector<double> x(B * 6), eps(B * 3);
  vae_test::fill_uniform(x, rng, 0, 1);
  rng.normal_fill(eps.data(), eps.size());
  std::vector<float> xf(x.begin(), x.end()), ef(eps.begin(), eps.end());
  const auto ld = md.forward(x.data(), eps.data(), B);
  const auto lf = mf.forward(xf.data(), ef.data(), B);
  EXPECT_NEAR(lf.recon, ld.recon, 1e-4 * std::fabs(ld.recon));
  EXPECT_NEAR(lf.kl, ld.kl, 1e-4 * std::fabs(ld.kl) + 1e-6);
}

TEST(Vae, EncodeAndDecodeMatchTheTrainingForward) {
  const vae::ModelConfig cfg = tiny_config(vae::Activation::Elu, {8});
  const int n = 7;  // more rows than max_batch: encode/decode work in chunks
  vae::Vae<double> model(cfg, 3);
  vae::Rng rng(4);
  model.init_params(rng);
  std::vector<double> x(n * 6), mu(n * 3), lv(n * 3), out(n * 6);
  vae_test::fill_uniform(x, rng, 0, 1);
  model.encode(x.data(), n, mu.data(), lv.data());
  model.decode(mu.data(), n, out.data());
  // With ε = 0 the training forward decodes μ itself.
  std::vector<double> zero(3 * 3, 0.0);
  for (int start = 0; start < n; start += 3) {
    const int B = std::min(3, n - start);
    model.forward(x.data() + start * 6, zero.data(), B);
    for (int i = 0; i < B * 3; ++i) {
      EXPECT_DOUBLE_EQ(model.mu()[i], mu[start * 3 + i]);
      EXPECT_DOUBLE_EQ(model.logvar()[i], lv[start * 3 + i]);
    }
    for (int i = 0; i < B * 6; ++i)
      EXPECT_NEAR(1 / (1 + std::exp(-model.logits()[i])), out[start * 6 + i], 1e-15);
  }
}

// A forward-only model (VaeBuffers::ForwardOnly) over another's weights: no gradient buffers
// and no parameters of its own, and the same forward, encode and decode, value for value.
TEST(Vae, ForwardOnlyModelSharesTheWeightsAndGivesTheSameForward) {
  const vae::ModelConfig cfg = tiny_config(vae::Activation::Relu, {8, 5});
  vae::Vae<float> owner(cfg, 4, 2);
  vae::Rng rng(9);
  owner.init_params(rng);
  vae::Vae<float> fwd(cfg, 4, 2, vae::VaeBuffers::ForwardOnly);
  fwd.share_params_read_only(owner);
  EXPECT_TRUE(fwd.forward_only());
  EXPECT_FALSE(owner.forward_only());
  EXPECT_EQ(fwd.grads(), nullptr);
  ASSERT_NE(owner.grads(), nullptr);
  EXPECT_EQ(fwd.num_params(), owner.num_params());
  EXPECT_EQ(fwd.params(), owner.params());  // the owner's buffer, not a copy

  const int B = 4;
  std::vector<float> x(B * 6), eps(B * 3), eps_iw(2 * B * 3);
  for (float& v : x) v = rng.uniform_float();
  rng.normal_fill(eps.data(), eps.size());
  rng.normal_fill(eps_iw.data(), eps_iw.size());
  const vae::LossParts a = owner.forward(x.data(), eps.data(), B);
  const vae::LossParts b = fwd.forward(x.data(), eps.data(), B);
  EXPECT_EQ(a.recon, b.recon);
  EXPECT_EQ(a.kl, b.kl);
  for (int i = 0; i < B * 6; ++i) ASSERT_EQ(owner.logits()[i], fwd.logits()[i]) << i;
  const vae::LossParts c = owner.forward_iw(x.data(), eps_iw.data(), B, 2);
  const vae::LossParts d = fwd.forward_iw(x.data(), eps_iw.data(), B, 2);
  EXPECT_EQ(c.recon, d.recon);
  EXPECT_EQ(owner.iw_objective(), fwd.iw_objective());

  std::vector<float> mu_a(B * 3), lv_a(B * 3), mu_b(B * 3), lv_b(B * 3), out_a(B * 6), out_b(B * 6);
  owner.encode(x.data(), B, mu_a.data(), lv_a.data());
  fwd.encode(x.data(), B, mu_b.data(), lv_b.data());
  owner.decode(mu_a.data(), B, out_a.data());
  fwd.decode(mu_b.data(), B, out_b.data());
  EXPECT_EQ(mu_a, mu_b);
  EXPECT_EQ(lv_a, lv_b);
  EXPECT_EQ(out_a, out_b);
}

TEST(Vae, ConfigValidationNamesTheField) {
  vae::ModelConfig c;
  c.latent = 0;
  try {
    c.validate();
    FAIL() << "latent 0 accepted";
  } catch (const vae::FieldError& e) {
    EXPECT_EQ(e.field(), "latent");
    EXPECT_EQ(std::string(e.what()), "latent: must be in 1..16384, got 0");
  }
  c = vae::ModelConfig{};
  c.hidden = {400, 0};
  EXPECT_THROW(c.validate(), vae::Error);
  c = vae::ModelConfig{};
  EXPECT_EQ(vae::ModelConfig::from_json(c.to_json(), "x").to_json(), c.to_json());
  EXPECT_THROW(vae::ModelConfig::from_json("{\"input_dim\": 3}", "x"), vae::Error);
}

}  // namespace

namespace {

// The training objective with β and free bits: mean recon + β Σ_j max(λ, KL̄_j), with λ set
// between two dimensions' batch-mean KLs, so both sides of the floor are checked and no
// finite-difference step crosses it.
TEST(VaeObjective, BetaAndFreeBitsGradientMatchesFiniteDifferences) {
  vae::ModelConfig cfg = tiny_config(vae::Activation::Tanh, {5});
  cfg.latent = 4;
  const int B = 5;
  vae::Vae<double> model(cfg, B);
  vae::Rng rng(21);
  model.init_params(rng);
  for (size_t i = 0; i < model.num_params(); ++i) model.params()[i] *= 3;  // spread the KLs
  std::vector<double> x(B * cfg.input_dim), eps(B * cfg.latent);
  vae_test::fill_uniform(x, rng, 0, 1);
  rng.normal_fill(eps.data(), eps.size());
  const double beta = 0.7;

  model.forward(x.data(), eps.data(), B);
  std::vector<double> kl_dim(cfg.latent, 0.0);
  for (int r = 0; r < B; ++r)
    for (int j = 0; j < cfg.latent; ++j) {
      const double m = model.mu()[r * cfg.latent + j], lv = model.logvar()[r * cfg.latent + j];
      kl_dim[j] += -0.5 * (1 + lv - m * m - std::exp(lv)) / B;
    }
  std::vector<double> sorted = kl_dim;
  std::sort(sorted.begin(), sorted.end());
  const double lambda = 0.5 * (sorted[1] + sorted[2]);  // two dims below the floor, two above
  ASSERT_GT(sorted[2] - sorted[1], 1e-3);

  auto objective = [&] {
    const vae::LossParts p = model.forward(x.data(), eps.data(), B);
    std::vector<double> k(cfg.latent, 0.0);
    for (int r = 0; r < B; ++r)
      for (int j = 0; j < cfg.latent; ++j) {
        const double m = model.mu()[r * cfg.latent + j], lv = model.logvar()[r * cfg.latent + j];
        k[j] += -0.5 * (1 + lv - m * m - std::exp(lv)) / B;
      }
    double kl = 0;
    for (double v : k) kl += std::max(lambda, v);
    return p.recon / B + beta * kl;
  };
  const double expected = objective();
  model.zero_grad();
  model.forward(x.data(), eps.data(), B);
  EXPECT_NEAR(model.backward(x.data(), B, beta, lambda), expected, 1e-12);
  std::vector<double> grad(model.grads(), model.grads() + model.num_params());
  vae_test::check_gradient("objective", model.params(), grad.data(), model.num_params(), objective,
                           1e-6, 1e-5, 1e-8);
}

TEST(VaeObjective, BetaScalesOnlyTheKlGradient) {
  const vae::ModelConfig cfg = tiny_config(vae::Activation::Relu, {5});
  const int B = 3;
  vae::Vae<double> model(cfg, B);
  vae::Rng rng(5);
  model.init_params(rng);
  std::vector<double> x(B * 6), eps(B * 3);
  vae_test::fill_uniform(x, rng, 0, 1);
  rng.normal_fill(eps.data(), eps.size());
  auto grads_at = [&](double beta) {
    model.zero_grad();
    model.forward(x.data(), eps.data(), B);
    model.backward(x.data(), B, beta, 0.0);
    return std::vector<double>(model.grads(), model.grads() + model.num_params());
  };
  const auto g0 = grads_at(0.0), g1 = grads_at(1.0), g3 = grads_at(3.0);
  // Linear in β: g(3) = g(0) + 3 (g(1) − g(0)).
  for (size_t i = 0; i < g0.size(); ++i) EXPECT_NEAR(g3[i], g0[i] + 3 * (g1[i] - g0[i]), 1e-12);
}

}  // namespace
