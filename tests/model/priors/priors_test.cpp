// The table of priors (src/model/priors/priors.cpp) and the config fields that name one: the
// words, the checkpoint JSON and the model description both ways, the parameter layout, and the
// field-named refusals.
#include "model/priors/priors.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>

#include "test_util.h"
#include "vae/error.h"
#include "vae/model.h"

namespace {

using vae_test::error_of;

vae::ModelConfig vamp_model(int k) {
  vae::ModelConfig c;
  c.prior = vae::Prior::Vamp;
  c.pseudo_inputs = k;
  return c;
}

TEST(PriorTable, EachRowIsItsKindAndTheWordsNameIt) {
  for (const vae::PriorRow& r : vae::prior_table()) {
    EXPECT_EQ(&vae::prior_row(r.kind), &r);
    EXPECT_EQ(vae::parse_prior(r.name), r.kind);
    EXPECT_EQ(vae::parse_prior(r.json_name), r.kind);
  }
  EXPECT_EQ(vae::parse_prior("standard_normal"), vae::Prior::Standard);  // older checkpoints
  EXPECT_EQ(std::string(vae::prior_name(vae::Prior::Vamp)), "vamp");
  EXPECT_EQ(error_of([] { vae::parse_prior("gmm"); }),
            "prior: must be 'standard' or 'vamp', got 'gmm'");
}

TEST(PriorTable, TheVampPriorsPseudoInputsComeBeforeTheLikelihoodsOwnParameters) {
  vae::ModelConfig c = vamp_model(5);
  c.likelihood = vae::Likelihood::GaussianLearnedSigma;
  c.channels = c.height = c.width = 0;
  const auto t = vae::param_table(c);
  ASSERT_GE(t.size(), 2u);
  EXPECT_EQ(t[t.size() - 2].name, "prior.pseudo_inputs");
  EXPECT_EQ(t[t.size() - 2].shape, (std::vector<int64_t>{5, 784}));
  EXPECT_EQ(t.back().name, "decoder.logsigma");
  const size_t with_vamp = vae::param_count(c);
  c.prior = vae::Prior::Standard;
  EXPECT_EQ(with_vamp, vae::param_count(c) + 5 * 784);
  for (const vae::ParamInfo& p : vae::param_table(c)) EXPECT_NE(p.name, "prior.pseudo_inputs");
}

TEST(PriorTable, PseudoInputsStartAsDimGreyImages) {
  const vae::ModelConfig c = vamp_model(50);
  std::vector<double> u(50 * 784);
  vae::Rng rng(2);
  vae::prior_init_params(c, u.data(), rng);
  double mean = 0, sq = 0;
  for (double v : u) mean += v / u.size();
  for (double v : u) sq += (v - mean) * (v - mean) / u.size();
  EXPECT_NEAR(mean, 0.05, 1e-3);
  EXPECT_NEAR(std::sqrt(sq), 0.01, 1e-3);
}

TEST(PriorConfig, CheckpointJsonAndDescriptionRoundTrip) {
  const vae::ModelConfig c = vamp_model(37);
  const vae::ModelConfig back = vae::ModelConfig::from_json(c.to_json(), "model.json");
  EXPECT_EQ(back.prior, vae::Prior::Vamp);
  EXPECT_EQ(back.pseudo_inputs, 37);
  const vae::ModelConfig described =
      vae::parse_model_config(c.to_description(), "m.json", vae::ModelConfig{});
  EXPECT_EQ(described.prior, vae::Prior::Vamp);
  EXPECT_EQ(described.pseudo_inputs, 37);
  EXPECT_EQ(nlohmann::json::parse(c.to_json()).at("prior"), "vamp");
  EXPECT_NE(c.describe().find("vamp prior K=37"), std::string::npos) << c.describe();
  // The standard prior writes what checkpoints always held, and its description no prior.
  const vae::ModelConfig s;
  EXPECT_EQ(nlohmann::json::parse(s.to_json()).at("prior"), "standard_normal");
  EXPECT_FALSE(nlohmann::json::parse(s.to_json()).contains("pseudo_inputs"));
  EXPECT_FALSE(nlohmann::json::parse(s.to_description()).contains("prior"));
  EXPECT_EQ(vae::prior_description(s), "standard normal");
  EXPECT_EQ(vae::prior_description(c), "vamp (K = 37 pseudo-inputs)");
}

TEST(PriorConfig, RefusalsNameTheField) {
  EXPECT_EQ(error_of([] { vamp_model(0).validate(); }), "pseudo_inputs: must be in 1..10000, got 0");
  EXPECT_EQ(error_of([] { vamp_model(10001).validate(); }),
            "pseudo_inputs: must be in 1..10000, got 10001");
  vae::ModelConfig conditional = vamp_model(10);
  conditional.num_classes = 3;
  EXPECT_NE(error_of([&] { conditional.validate(); }).find("prior: 'vamp' needs an unconditional model"),
            std::string::npos);
  EXPECT_NO_THROW(vamp_model(1).validate());
  vae::ModelConfig standard = vamp_model(0);  // K is not read by the standard prior
  standard.prior = vae::Prior::Standard;
  EXPECT_NO_THROW(standard.validate());
  EXPECT_EQ(error_of([] {
              vae::parse_model_config(R"({"prior": "vamp", "pseudo_inputs": 2.5})", "m.json",
                                      vae::ModelConfig{});
            }),
            "m.json: pseudo_inputs: must be an integer");
  EXPECT_EQ(error_of([] {
              vae::parse_model_config(R"({"prior": 3})", "m.json", vae::ModelConfig{});
            }),
            "m.json: prior: must be a string");
}

}  // namespace
