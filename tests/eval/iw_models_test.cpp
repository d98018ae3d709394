// The importance-weighted log-likelihood of convolutional and conditional models held to values
// that do not come from the estimator itself: K = 1 against the ELBO, the same estimate for any worker count and pass size, and (conditional) each example scored
// with its own label — the same figure as a run where every example carries that label.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "vae/eval.h"
#include "vae/model.h"
#include "vae/rng.h"
#include "vae/runtime.h"

namespace {

// n random 8×8 images (D = 64) with labels i mod 3, from Rng(seed).
vae::Dataset random_images(uint64_t seed, size_t n) {
  vae::Rng rng(seed);
  vae::Dataset data;
  data.n = n;
  data.d = 64;
  data.x.resize(n * 64);
  for (float& v : data.x) v = rng.uniform_float();
  data.labels.resize(n);
  for (size_t i = 0; i < n; ++i) data.labels[i] = static_cast<int32_t>(i % 3);
  return data;
}

// The model kinds whose IW evaluation had only smoke tests: the conv preset, and a conditional
// MLP and conv preset on 3 classes. Random weights from Rng(seed).
vae::ModelConfig model_config(const std::string& kind) {
  vae::ModelConfig cfg;
  cfg.input_dim = 64;
  cfg.height = cfg.width = 8;
  cfg.channels = 1;
  cfg.hidden = {24};
  cfg.latent = 3;
  if (kind.find("conv") != std::string::npos) vae::set_conv_preset(cfg);
  if (kind.find("conditional") != std::string::npos) cfg.num_classes = 3;
  return cfg;
}

class IwModels : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    saved_threads_ = vae::num_threads();
    vae::set_num_threads(1);
    model_ = std::make_unique<vae::Vae<float>>(model_config(GetParam()), 64);
    vae::Rng rng(11);
    model_->init_params(rng);
    data_ = random_images(5, 120);
  }
  void TearDown() override { vae::set_num_threads(saved_threads_); }
  int saved_threads_ = 1;
  std::unique_ptr<vae::Vae<float>> model_;
  vae::Dataset data_;
};

// K = 1 estimates the ELBO with other ε (and the KL at the sample): the two means agree within a
// few standard errors of their per-example difference. (That the bound rises with K is held on
// the MLP in iw_test.cpp; for these random near-prior models the gain is below the noise.)
TEST_P(IwModels, KOneAgreesWithTheElbo) {
  const vae::ElboResult e = vae::evaluate_elbo(*model_, data_, vae::kEvalSeed, true);
  const vae::IwResult r1 = vae::evaluate_iw(*model_, data_, 1);
  double sum = 0, sum_sq = 0;
  for (size_t i = 0; i < data_.n; ++i) {
    const double d = r1.per_example[i] + (e.recon_rows[i] + e.kl_rows[i]);
    sum += d;
    sum_sq += d * d;
  }
  const double mean = sum / data_.n;
  const double se = std::sqrt((sum_sq / data_.n - mean * mean) / (data_.n - 1));
  EXPECT_NEAR(r1.log_likelihood, -e.loss, 4 * se);
  EXPECT_LT(se, 0.05 * std::fabs(e.loss));  // the comparison has teeth
}

// Each example draws its ε from its own stream: one worker with whole passes and three workers
// with 7-row passes give the same per-example figures.
TEST_P(IwModels, SameEstimateForAnyWorkerCountAndPassSize) {
  const vae::IwResult one = vae::evaluate_iw(*model_, data_, 20, 9, {}, 4096);
  vae::set_num_threads(3);
  const vae::IwResult three = vae::evaluate_iw(*model_, data_, 20, 9, {}, 7);
  ASSERT_EQ(one.per_example.size(), three.per_example.size());
  for (size_t i = 0; i < one.per_example.size(); ++i)
    EXPECT_NEAR(one.per_example[i], three.per_example[i], 1e-4 * std::fabs(one.per_example[i])) << i;
}

// A conditional model scores example i with label y_i: the figure equals that of a run in which
// every example carries y_i, and differs from a run with another label (labels reach both the
// encoder and the decoder, paired with their own rows).
TEST_P(IwModels, EachExampleIsScoredWithItsOwnLabel) {
  if (model_->config().num_classes == 0) GTEST_SKIP() << "not a conditional model";
  const vae::IwResult mixed = vae::evaluate_iw(*model_, data_, 5, 9);
  std::vector<vae::IwResult> uniform;
  for (int32_t y = 0; y < 3; ++y) {
    vae::Dataset same = data_;
    std::fill(same.labels.begin(), same.labels.end(), y);
    uniform.push_back(vae::evaluate_iw(*model_, same, 5, 9));
  }
  size_t differs = 0;
  for (size_t i = 0; i < data_.n; ++i) {
    const int32_t y = data_.labels[i];
    EXPECT_EQ(mixed.per_example[i], uniform[y].per_example[i]) << "example " << i;
    differs += mixed.per_example[i] != uniform[(y + 1) % 3].per_example[i];
  }
  EXPECT_EQ(differs, data_.n);  // another label gives another figure for every example
}

INSTANTIATE_TEST_SUITE_P(Kinds, IwModels,
                         ::testing::Values("conv", "conditional_mlp", "conditional_conv"),
                         [](const auto& info) { return info.param; });

}  // namespace
