// The likelihood table: every row round-trips through the checkpoint JSON and the model
// description, its forward/backward pair passes a finite-difference check through the row's
// function pointers, its own parameters sit last in the flat buffer at their start value, and
// the data pipeline follows its range and auto-scaling answers. The words of the command line
// and of config files reach the rows through set_likelihood, with errors naming the field.
#include "model/likelihoods/likelihoods.h"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "likelihood_cases.h"
#include "test_util.h"
#include "vae/data_pipeline.h"
#include "vae/error.h"
#include "vae/model.h"

namespace {

using vae::Likelihood;
using vae::LikelihoodRow;

TEST(LikelihoodTable, RowsAreInKindOrder) {
  const std::vector<LikelihoodRow>& t = vae::likelihood_table();
  for (size_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(static_cast<size_t>(t[i].kind), i);
    EXPECT_EQ(&vae::likelihood_row(t[i].kind), &t[i]);
    EXPECT_STREQ(vae::likelihood_kind_name(t[i].kind), t[i].name);
    EXPECT_STREQ(vae::likelihood_description(t[i].kind), t[i].description);
    EXPECT_EQ(vae::sigma_role(t[i].kind), t[i].sigma_role);
  }
}

TEST(LikelihoodTable, EveryRowRoundTripsThroughTheCheckpointJsonAndTheDescription) {
  for (const LikelihoodRow& r : vae::likelihood_table()) {
    SCOPED_TRACE(r.description);
    const vae::ModelConfig cfg = likelihood_test::tiny_model(r.kind);
    const vae::ModelConfig back = vae::ModelConfig::from_json(cfg.to_json(), "ckpt");
    EXPECT_EQ(back.likelihood, r.kind);
    EXPECT_EQ(back.sigma, cfg.sigma);
    EXPECT_EQ(back.to_json(), cfg.to_json());
    EXPECT_EQ(vae::likelihood_name(back), r.description);
    const vae::ModelConfig described =
        vae::parse_model_config(cfg.to_description(), "model.json", vae::ModelConfig{});
    EXPECT_EQ(described.likelihood, r.kind);
    if (r.sigma_role != vae::SigmaRole::Learned) {
      EXPECT_EQ(described.sigma, cfg.sigma);
    }
  }
}

// −log p through the row for B rows of D values: out U(−1, 1), x in the row's range, its own
// parameters off their start value, σ = 0.7.
struct NllCase {
  const LikelihoodRow& row;
  int B = 3, D = 4;
  double sigma = 0.7;
  std::vector<double> out, x, theta;
  explicit NllCase(const LikelihoodRow& r) : row(r) {
    vae::Rng rng(11);
    out.resize(static_cast<size_t>(B) * D);
    x.resize(out.size());
    theta.resize(r.params.size() * D);
    vae_test::fill_uniform(out, rng, -1, 1);
    vae_test::fill_uniform(x, rng, r.unit_interval ? 0 : -1, 1);
    for (size_t i = 0; i < theta.size(); ++i) theta[i] = 0.3 * std::sin(i + 1.0);
  }
  const vae::LikelihoodMath<double>& math() const { return row.math<double>(); }
  double forward(double* rows = nullptr) const {
    return math().nll_forward(rows, out.data(), x.data(), theta.data(), sigma, B, D);
  }
};

TEST(LikelihoodTable, EveryRowsBackwardMatchesFiniteDifferencesAndAccumulates) {
  for (const LikelihoodRow& r : vae::likelihood_table()) {
    SCOPED_TRACE(r.description);
    NllCase c(r);
    const double scale = 0.25;
    std::vector<double> dout(c.out.size(), 0.0), dtheta(c.theta.size(), 0.0);
    c.math().nll_backward(dout.data(), dtheta.data(), c.out.data(), c.x.data(), c.theta.data(),
                          c.sigma, scale, c.B, c.D);
    auto loss = [&] { return scale * c.forward(); };
    vae_test::check_gradient("dout", c.out.data(), dout.data(), dout.size(), loss);
    vae_test::check_gradient("dtheta", c.theta.data(), dtheta.data(), dtheta.size(), loss);

    // Backward accumulates: row by row (as the IWAE pass calls it) adds the same gradient again.
    const std::vector<double> once = dout, once_theta = dtheta;
    for (int b = 0; b < c.B; ++b) {
      const size_t at = static_cast<size_t>(b) * c.D;
      c.math().nll_backward(dout.data() + at, dtheta.data(), c.out.data() + at, c.x.data() + at,
                            c.theta.data(), c.sigma, scale, 1, c.D);
    }
    for (size_t i = 0; i < dout.size(); ++i) EXPECT_NEAR(dout[i], 2 * once[i], 1e-12);
    for (size_t i = 0; i < dtheta.size(); ++i) EXPECT_NEAR(dtheta[i], 2 * once_theta[i], 1e-12);
  }
}

TEST(LikelihoodTable, EveryRowsForwardGivesPerRowSumsOfItsTotal) {
  for (const LikelihoodRow& r : vae::likelihood_table()) {
    SCOPED_TRACE(r.description);
    const NllCase c(r);
    std::vector<double> rows(c.B, -1.0);
    const double total = c.forward(rows.data());
    double sum = 0;
    for (int b = 0; b < c.B; ++b) {
      EXPECT_NEAR(rows[b], c.math().nll_forward(nullptr, c.out.data() + b * c.D,
                                                c.x.data() + b * c.D, c.theta.data(), c.sigma, 1,
                                                c.D),
                  1e-12);
      sum += rows[b];
    }
    EXPECT_NEAR(sum, total, 1e-12);
  }
}

TEST(LikelihoodTable, EveryRowsParametersComeLastAtTheirStartValue) {
  for (const LikelihoodRow& r : vae::likelihood_table()) {
    SCOPED_TRACE(r.description);
    const vae::ModelConfig cfg = likelihood_test::tiny_model(r.kind);
    const std::vector<vae::ParamInfo> table = vae::param_table(cfg);
    ASSERT_GT(table.size(), r.params.size());
    vae::Vae<float> model(cfg, 2);
    vae::Rng rng(1);
    model.init_params(rng);
    const size_t first = table.size() - r.params.size();
    for (size_t k = 0; k < r.params.size(); ++k) {
      const vae::ParamInfo& p = table[first + k];
      EXPECT_EQ(p.name, r.params[k].name);
      EXPECT_EQ(p.shape, (std::vector<int64_t>{cfg.input_dim}));
      for (size_t i = 0; i < p.numel; ++i)
        EXPECT_EQ(model.params()[p.offset + i], static_cast<float>(r.params[k].init));
    }
    EXPECT_EQ(table[first - 1].name, "decoder.out.bias");
  }
}

TEST(LikelihoodTable, TheDataPipelineFollowsEveryRowsRangeAndAutoScaling) {
  vae_test::TempDir dir;
  vae::DataOptions o;
  o.data = dir.file("table.csv");
  vae_test::write_bytes(o.data, "a,b\n1,20\n2,40\n3,70\n4,80\n5,90\n");
  for (const LikelihoodRow& r : vae::likelihood_table()) {
    SCOPED_TRACE(r.description);
    vae::Scaler s;
    vae::load_splits(o, 1, r.kind, nullptr, &s);
    EXPECT_EQ(s.kind, r.auto_scale);
    EXPECT_NO_THROW(vae::check_range_for(likelihood_test::data_holding(1.0f), r.kind, "d"));
    if (r.unit_interval)
      EXPECT_THROW(vae::check_range_for(likelihood_test::data_holding(1.5f), r.kind, "d"), vae::Error);
    else
      EXPECT_NO_THROW(vae::check_range_for(likelihood_test::data_holding(-7.5f), r.kind, "d"));
  }
}

// The error set_likelihood throws for the words, as "field: problem".
std::string words_error(const std::optional<std::string>& name,
                        const std::optional<std::string>& sigma, vae::ModelConfig cfg = {}) {
  const vae::ModelConfig before = cfg;
  try {
    vae::set_likelihood(cfg, name, sigma);
  } catch (const vae::FieldError& e) {
    EXPECT_EQ(cfg.to_json(), before.to_json()) << "a failed set changed the config";
    return e.field() + ": " + e.problem();
  }
  return "";
}

TEST(LikelihoodWords, NameTheRows) {
  vae::ModelConfig cfg;
  vae::set_likelihood(cfg, std::string("gaussian"), std::string("0.25"));
  EXPECT_EQ(cfg.likelihood, Likelihood::Gaussian);
  EXPECT_EQ(cfg.sigma, 0.25);
  vae::set_likelihood(cfg, std::nullopt, std::string("learned"));  // keeps the name
  EXPECT_EQ(cfg.likelihood, Likelihood::GaussianLearnedSigma);
  EXPECT_EQ(cfg.sigma, 0.25);  // "learned" keeps the number, as checkpoints always have
  vae::set_likelihood(cfg, std::string("gaussian"), std::nullopt);  // keeps "learned"
  EXPECT_EQ(cfg.likelihood, Likelihood::GaussianLearnedSigma);
  vae::set_likelihood(cfg, std::string("bernoulli"), std::string("2"));
  EXPECT_EQ(cfg.likelihood, Likelihood::Bernoulli);
  EXPECT_EQ(cfg.sigma, 2.0);
  vae::set_likelihood(cfg, std::nullopt, std::nullopt);
  EXPECT_EQ(cfg.likelihood, Likelihood::Bernoulli);
}

TEST(LikelihoodWords, ErrorsNameTheFieldAndLeaveTheConfig) {
  const std::string unknown = words_error(std::string("poisson"), std::nullopt);
  EXPECT_EQ(unknown.rfind("likelihood: must be 'bernoulli'", 0), 0u) << unknown;
  for (const LikelihoodRow& r : vae::likelihood_table())
    EXPECT_NE(unknown.find("'" + std::string(r.name) + "'"), std::string::npos) << unknown;
  EXPECT_EQ(unknown.substr(unknown.size() - 15), ", got 'poisson'") << unknown;
  EXPECT_EQ(words_error(std::nullopt, std::string("learned")),
            "sigma: 'learned' needs likelihood 'gaussian'");
  EXPECT_EQ(words_error(std::string("bernoulli"), std::string("learned")),
            "sigma: 'learned' needs likelihood 'gaussian'");
  for (const char* bad : {"wide", "", "0", "-1", "1x", "nan", "inf"})
    EXPECT_EQ(words_error(std::string("gaussian"), std::string(bad)),
              "sigma: must be a positive number or 'learned', got '" + std::string(bad) + "'");
}

TEST(LikelihoodWords, ValidateAndTheDescriptionNameTheirFields) {
  vae::ModelConfig cfg;
  cfg.sigma = 0;
  try {
    cfg.validate();
    FAIL() << "sigma 0 passed";
  } catch (const vae::FieldError& e) {
    EXPECT_EQ(e.field(), "sigma");
  }
  const std::string bad[][2] = {
      {R"({"likelihood": 3})", "m.json: likelihood: must be a string"},
      {R"({"likelihood": "poisson"})", "m.json: likelihood: must be 'bernoulli'"},
      {R"({"sigma": "learned"})", "m.json: sigma: 'learned' needs likelihood 'gaussian'"},
      {R"({"sigma": [1]})", "m.json: sigma: must be a number or \"learned\""},
  };
  for (const auto& [text, expected] : bad) {
    try {
      vae::parse_model_config(text, "m.json", vae::ModelConfig{});
      ADD_FAILURE() << text << " parsed";
    } catch (const vae::Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind(expected, 0), 0u) << e.what();
    }
  }
  // The description's words over a base: "sigma" alone keeps the base's likelihood name.
  vae::ModelConfig base;
  base.likelihood = Likelihood::Gaussian;
  EXPECT_EQ(vae::parse_model_config(R"({"sigma": "learned"})", "m.json", base).likelihood,
            Likelihood::GaussianLearnedSigma);
}

}  // namespace
