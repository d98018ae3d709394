// The learned-σ Gaussian likelihood's row: today's words (checkpoint JSON "learn_sigma": true,
// description "sigma": "learned"), its parameter "decoder.logsigma" (D) at 0, the decoder mean,
// and a checkpoint written in today's format loading with its log σ in place.
#include "model/likelihoods/gaussian_learned_sigma.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "likelihood_cases.h"
#include "model/losses.h"
#include "test_util.h"
#include "vae/checkpoint.h"

namespace {

const vae::LikelihoodRow& row() { return vae::likelihood_row(vae::Likelihood::GaussianLearnedSigma); }

// A 6-5-3 tanh table model with a learned σ, as checkpoints have always spelled it.
const char* kTodaysModelJson =
    R"({"activation":"tanh","arch":"mlp","channels":0,"decoder":"mirror","height":0,)"
    R"("hidden":[5],"input_dim":6,"latent":3,"learn_sigma":true,"likelihood":"gaussian",)"
    R"("num_classes":0,"posterior":"diagonal_gaussian","prior":"standard_normal","sigma":1.0,)"
    R"("width":0})";

TEST(GaussianLearnedSigmaLikelihood, SpeaksTodaysWords) {
  EXPECT_STREQ(row().name, "gaussian");
  EXPECT_STREQ(row().description, "gaussian (learned sigma)");
  EXPECT_EQ(row().sigma_role, vae::SigmaRole::Learned);
  EXPECT_EQ(row().auto_scale, vae::ScalerKind::Standardize);
  ASSERT_EQ(row().params.size(), 1u);
  EXPECT_STREQ(row().params[0].name, "decoder.logsigma");
  EXPECT_EQ(row().params[0].init, 0.0);
  const vae::ModelConfig cfg = likelihood_test::tiny_model(vae::Likelihood::GaussianLearnedSigma);
  const auto j = nlohmann::json::parse(cfg.to_json());
  EXPECT_EQ(j.at("likelihood"), "gaussian");
  EXPECT_EQ(j.at("learn_sigma"), true);
  EXPECT_EQ(j.at("sigma"), 0.7);
  const auto described = nlohmann::json::parse(cfg.to_description());
  EXPECT_EQ(described.at("likelihood"), "gaussian");
  EXPECT_EQ(described.at("sigma"), "learned");
}

TEST(GaussianLearnedSigmaLikelihood, ReadsItsLogSigmaFromTheParameters) {
  // s = log 2 for both dimensions: x = m gives log 2 + ½ log 2π each, and ∂/∂s = 1 − (x−m)² e^{−2s}.
  const double m[2] = {0.1, 0.1}, x[2] = {0.1, 2.1}, s[2] = {std::log(2.0), std::log(2.0)};
  double rows[1];
  row().math<double>().nll_forward(rows, m, x, s, 99.0, 1, 2);
  EXPECT_NEAR(rows[0], 2 * (std::log(2.0) + vae::kHalfLog2Pi) + 0.5, 1e-14);
  double dm[2] = {0, 0}, ds[2] = {0, 0};
  row().math<double>().nll_backward(dm, ds, m, x, s, 99.0, 1.0, 1, 2);
  EXPECT_NEAR(ds[0], 1.0, 1e-15);
  EXPECT_NEAR(ds[1], 0.0, 1e-15);
  EXPECT_NEAR(dm[1], -2.0 / 4, 1e-15);
}

TEST(GaussianLearnedSigmaLikelihood, DecoderMeanIsTheOutputItself) {
  const likelihood_test::Decoded d =
      likelihood_test::decode_both(vae::Likelihood::GaussianLearnedSigma, 4);
  EXPECT_EQ(d.mean, d.out);
}

TEST(GaussianLearnedSigmaLikelihood, CheckpointsInTodaysFormatLoadWithTheirLogSigma) {
  const vae::ModelConfig cfg = vae::ModelConfig::from_json(kTodaysModelJson, "today");
  EXPECT_EQ(cfg.likelihood, vae::Likelihood::GaussianLearnedSigma);
  EXPECT_EQ(cfg.to_json(), kTodaysModelJson);  // what today's readers expect, byte for byte

  // A checkpoint of that model with log σ_j = 0.1·(j+1), written and read back.
  vae::Checkpoint c;
  c.model = cfg;
  vae::Vae<float> model(cfg, 2);
  vae::Rng rng(4);
  model.init_params(rng);
  const vae::ParamInfo& ls = model.params_info().back();
  ASSERT_EQ(ls.name, "decoder.logsigma");
  for (size_t j = 0; j < ls.numel; ++j) model.params()[ls.offset + j] = 0.1f * (j + 1);
  c.params.assign(model.params(), model.params() + model.num_params());
  vae_test::TempDir dir;
  const std::string path = dir.file("c.safetensors");
  vae::save_checkpoint(path, c);
  const vae::SafeTensors st = vae::read_safetensors(path);
  EXPECT_EQ(st.metadata.at("model"), kTodaysModelJson);
  bool found = false;
  for (const vae::TensorEntry& t : st.tensors)
    if (t.name == "decoder.logsigma") found = t.shape == std::vector<int64_t>{6};
  EXPECT_TRUE(found) << "no decoder.logsigma tensor of shape (6)";

  const vae::Checkpoint r = vae::load_checkpoint(path);
  EXPECT_EQ(r.model.likelihood, vae::Likelihood::GaussianLearnedSigma);
  vae::Vae<float> loaded(r.model, 2);
  std::copy(r.params.begin(), r.params.end(), loaded.params());
  // Its reconstruction term reads that log σ: −log p = Σ_j ½ (x − m)² e^{−2s_j} + s_j + ½ log 2π.
  std::vector<float> x(12, 0.25f), eps(6, 0.5f);
  loaded.forward(x.data(), eps.data(), 2);
  const double nll = loaded.recon_nll(loaded.logits(), x.data(), 2, nullptr);
  const double direct = vae::gaussian_learned_nll_forward<float>(
      nullptr, loaded.logits(), r.params.data() + ls.offset, x.data(), 2, 6);
  EXPECT_EQ(nll, direct);
  EXPECT_GT(std::fabs(direct - vae::gaussian_nll_forward<float>(nullptr, loaded.logits(), x.data(),
                                                                  1.0f, 2, 6)),
            0.1);
}

}  // namespace
