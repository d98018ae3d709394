// Checkpoints written by earlier versions keep loading and computing the same outputs
// (tests/fixtures/v1/README.md says how each fixture was made).
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "test_util.h"
#include "vae/checkpoint.h"
#include "vae/npy.h"

namespace {

using vae_cli_test::describe;
using vae_cli_test::RunResult;
using vae_cli_test::vae_run;

const std::string kDir = std::string(VAE_FIXTURE_DIR) + "/v1/";

struct Fixture {
  const char* checkpoint;  // under kDir
  const char* codes;       // z (4, Z) to decode
  const char* decoded;     // what `vae decode CKPT codes --label 1` wrote when it was made
  const char* info;        // what `vae info CKPT` printed, less its first line
};

const Fixture kFixtures[] = {
    {"mlp_gaussian_learned.safetensors", "z2.npy", "mlp_decoded.npy", "mlp_gaussian_learned.info.txt"},
    {"conv_iwae_conditional.safetensors", "z3.npy", "conv_decoded.npy",
     "conv_iwae_conditional.info.txt"},
};

// Test names show the checkpoint rather than the struct's bytes.
void PrintTo(const Fixture& f, std::ostream* os) { *os << f.checkpoint; }

class CheckpointCompat : public testing::TestWithParam<Fixture> {};

TEST_P(CheckpointCompat, DecodesAsWhenItWasWritten) {
  const Fixture& f = GetParam();
  vae_test::TempDir tmp;
  const std::vector<std::string> args = {"decode",  kDir + f.checkpoint, kDir + f.codes, "--label",
                                         "1",       "--threads",        "1",
                                         "--out",   tmp.file("x.npy")};
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const vae::NpyArray got = vae::read_npy(tmp.file("x.npy"));
  const vae::NpyArray want = vae::read_npy(kDir + f.decoded);
  ASSERT_EQ(got.shape, want.shape);
  for (size_t i = 0; i < want.data.size(); ++i)
    EXPECT_NEAR(got.data[i], want.data[i], 1e-6f * (1.0f + std::abs(want.data[i]))) << "value " << i;
}

TEST_P(CheckpointCompat, InfoReadsAsWhenItWasWritten) {
  const Fixture& f = GetParam();
  const std::vector<std::string> args = {"info", kDir + f.checkpoint};
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const std::string out = r.out.substr(r.out.find('\n') + 1);  // less the line with the path
  EXPECT_EQ(out, vae_test::read_bytes(kDir + f.info));
}

// What the library reads from each: the configuration, typed, as the command line gave it.
TEST(CheckpointCompatV1, MlpGaussianLearnedReadsAsTyped) {
  const vae::Checkpoint c = vae::load_checkpoint(kDir + "mlp_gaussian_learned.safetensors");
  EXPECT_EQ(c.model.arch, vae::Arch::Mlp);
  EXPECT_EQ(c.model.hidden, (std::vector<int>{8, 4}));
  EXPECT_EQ(c.model.latent, 2);
  EXPECT_EQ(c.model.likelihood, vae::Likelihood::GaussianLearnedSigma);
  EXPECT_EQ(c.model.num_classes, 3);
  EXPECT_EQ(c.train.kl_warmup.kind, vae::KlWarmup::Kind::Linear);
  EXPECT_EQ(c.train.kl_warmup.period, 2.0);
  EXPECT_EQ(c.train.beta, 0.5);
  EXPECT_EQ(c.train.objective, vae::Objective::Elbo);
  EXPECT_EQ(c.train.binarize, vae::Binarize::None);
  EXPECT_EQ(c.train.data.scale, vae::Scale::Standardize);
  EXPECT_EQ(c.scaler.kind, vae::ScalerKind::Standardize);
  EXPECT_EQ(c.state.epoch, 2);
  EXPECT_EQ(c.params.size(), 260u);
  EXPECT_EQ(c.adam_m.size(), 260u);
}

TEST(CheckpointCompatV1, ConvIwaeConditionalReadsAsTyped) {
  const vae::Checkpoint c = vae::load_checkpoint(kDir + "conv_iwae_conditional.safetensors");
  EXPECT_EQ(c.model.arch, vae::Arch::Custom);
  ASSERT_EQ(c.model.encoder.size(), 2u);
  EXPECT_STREQ(vae::layer_kind_name(c.model.encoder[0].kind), "conv");
  EXPECT_STREQ(vae::layer_kind_name(c.model.encoder[1].kind), "dense");
  ASSERT_EQ(c.model.decoder.size(), 3u);
  EXPECT_STREQ(vae::layer_kind_name(c.model.decoder[1].kind), "reshape");
  EXPECT_STREQ(vae::layer_kind_name(c.model.decoder[2].kind), "conv_transpose");
  EXPECT_EQ(c.model.likelihood, vae::Likelihood::Bernoulli);
  EXPECT_EQ(c.model.num_classes, 2);
  EXPECT_EQ(c.train.objective, vae::Objective::Iwae);
  EXPECT_EQ(c.train.k, 2);
  EXPECT_EQ(c.train.binarize, vae::Binarize::Dynamic);
  EXPECT_EQ(c.train.kl_warmup.kind, vae::KlWarmup::Kind::None);
  EXPECT_EQ(c.train.data.scale, vae::Scale::Auto);
  EXPECT_EQ(c.scaler.kind, vae::ScalerKind::ZeroOne);
  EXPECT_EQ(c.train.clip_grad, 5.0);
  EXPECT_EQ(c.params.size(), 1079u);
}

INSTANTIATE_TEST_SUITE_P(V1, CheckpointCompat, testing::ValuesIn(kFixtures),
                         [](const testing::TestParamInfo<Fixture>& p) {
                           return p.index == 0 ? std::string("MlpGaussianLearned")
                                               : std::string("ConvIwaeConditional");
                         });

}  // namespace
