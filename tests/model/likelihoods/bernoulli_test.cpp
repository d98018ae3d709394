// The Bernoulli likelihood's row: today's words, its golden values through the row, the decoder
// mean σ(logits), and the [0, 1] range its data must keep.
#include "model/likelihoods/bernoulli.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <string>

#include "likelihood_cases.h"
#include "vae/data_pipeline.h"
#include "vae/error.h"

namespace {

const vae::LikelihoodRow& row() { return vae::likelihood_row(vae::Likelihood::Bernoulli); }

TEST(BernoulliLikelihood, SpeaksTodaysWords) {
  EXPECT_STREQ(row().name, "bernoulli");
  EXPECT_STREQ(row().description, "bernoulli");
  EXPECT_EQ(row().sigma_role, vae::SigmaRole::None);
  EXPECT_EQ(row().auto_scale, vae::ScalerKind::ZeroOne);
  EXPECT_TRUE(row().params.empty());
  const auto j = nlohmann::json::parse(likelihood_test::tiny_model(vae::Likelihood::Bernoulli).to_json());
  EXPECT_EQ(j.at("likelihood"), "bernoulli");
  EXPECT_EQ(j.at("learn_sigma"), false);
  EXPECT_EQ(j.at("sigma"), 0.7);
}

TEST(BernoulliLikelihood, GoldenValuesThroughTheRow) {
  // l = 0: p = ½ for either x, so −log p = log 2; l = 2, x = 1: softplus(2) − 2 = log(1 + e^−2).
  const double l[2] = {0, 2}, x[2] = {0, 1};
  double rows[2];
  const double total = row().math<double>().nll_forward(rows, l, x, nullptr, 1.0, 2, 1);
  EXPECT_NEAR(rows[0], std::log(2.0), 1e-15);
  EXPECT_NEAR(rows[1], std::log1p(std::exp(-2.0)), 1e-15);
  EXPECT_NEAR(total, rows[0] + rows[1], 1e-15);
  // ∂/∂l = σ(l) − x
  double dl[2] = {0, 0};
  row().math<double>().nll_backward(dl, nullptr, l, x, nullptr, 1.0, 1.0, 2, 1);
  EXPECT_NEAR(dl[0], 0.5, 1e-15);
  EXPECT_NEAR(dl[1], 1 / (1 + std::exp(-2.0)) - 1, 1e-15);
}

TEST(BernoulliLikelihood, DecoderMeanIsTheSigmoidOfTheLogits) {
  const likelihood_test::Decoded d = likelihood_test::decode_both(vae::Likelihood::Bernoulli, 4);
  for (size_t i = 0; i < d.out.size(); ++i)
    EXPECT_NEAR(d.mean[i], 1 / (1 + std::exp(-d.out[i])), 1e-15) << i;
}

TEST(BernoulliLikelihood, DataOutsideTheUnitIntervalAreNamed) {
  for (float bad : {1.5f, -0.25f, NAN}) {
    try {
      vae::check_range_for(likelihood_test::data_holding(bad), vae::Likelihood::Bernoulli, "d.csv");
      ADD_FAILURE() << bad << " passed";
    } catch (const vae::Error& e) {
      const std::string m = e.what();
      EXPECT_EQ(m.rfind("d.csv: row 1, column 1 is ", 0), 0u) << m;
      EXPECT_NE(m.find("the bernoulli likelihood needs values in [0, 1]"), std::string::npos) << m;
    }
  }
  EXPECT_NO_THROW(vae::check_range_for(likelihood_test::data_holding(0.0f),
                                       vae::Likelihood::Bernoulli, "d.csv"));
}

}  // namespace
