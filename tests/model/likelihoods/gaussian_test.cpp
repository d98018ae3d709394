// The fixed-σ Gaussian likelihood's row: today's words, its golden values through the row (σ
// from the config), the decoder mean (the output itself), and data of any range.
#include "model/likelihoods/gaussian.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include "likelihood_cases.h"
#include "model/losses.h"
#include "vae/data_pipeline.h"

namespace {

const vae::LikelihoodRow& row() { return vae::likelihood_row(vae::Likelihood::Gaussian); }

TEST(GaussianLikelihood, SpeaksTodaysWords) {
  EXPECT_STREQ(row().name, "gaussian");
  EXPECT_STREQ(row().description, "gaussian");
  EXPECT_EQ(row().sigma_role, vae::SigmaRole::Fixed);
  EXPECT_EQ(row().auto_scale, vae::ScalerKind::Standardize);
  EXPECT_TRUE(row().params.empty());
  const auto j = nlohmann::json::parse(likelihood_test::tiny_model(vae::Likelihood::Gaussian).to_json());
  EXPECT_EQ(j.at("likelihood"), "gaussian");
  EXPECT_EQ(j.at("learn_sigma"), false);
  EXPECT_EQ(j.at("sigma"), 0.7);
  vae::ModelConfig cfg;
  vae::set_likelihood(cfg, std::string("gaussian"), std::string("0.5"));
  EXPECT_EQ(nlohmann::json::parse(cfg.to_description()).at("sigma"), 0.5);
}

TEST(GaussianLikelihood, GoldenValuesThroughTheRowUseTheConfigsSigma) {
  // x = m: −log p = log σ + ½ log 2π; one σ away: ½ more. ∂/∂m = (m − x)/σ².
  const double m[2] = {0.3, 0.3}, x[2] = {0.3, 0.8};
  double rows[2];
  row().math<double>().nll_forward(rows, m, x, nullptr, 0.5, 2, 1);
  EXPECT_NEAR(rows[0], std::log(0.5) + vae::kHalfLog2Pi, 1e-15);
  EXPECT_NEAR(rows[1], std::log(0.5) + vae::kHalfLog2Pi + 0.5, 1e-15);
  double dm[2] = {0, 0};
  row().math<double>().nll_backward(dm, nullptr, m, x, nullptr, 0.5, 1.0, 2, 1);
  EXPECT_NEAR(dm[0], 0.0, 1e-15);
  EXPECT_NEAR(dm[1], -0.5 / 0.25, 1e-14);
}

TEST(GaussianLikelihood, DecoderMeanIsTheOutputItself) {
  const likelihood_test::Decoded d = likelihood_test::decode_both(vae::Likelihood::Gaussian, 4);
  EXPECT_EQ(d.mean, d.out);
}

TEST(GaussianLikelihood, TakesDataOfAnyRange) {
  for (float v : {-40.0f, 0.5f, 1e6f})
    EXPECT_NO_THROW(vae::check_range_for(likelihood_test::data_holding(v),
                                         vae::Likelihood::Gaussian, "d.csv"));
}

}  // namespace
