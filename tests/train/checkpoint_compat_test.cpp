// Checkpoints written by earlier versions keep loading and computing the same outputs
// (tests/fixtures/v1/README.md says how each fixture was made).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "test_util.h"
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

INSTANTIATE_TEST_SUITE_P(V1, CheckpointCompat, testing::ValuesIn(kFixtures),
                         [](const testing::TestParamInfo<Fixture>& p) {
                           return p.index == 0 ? std::string("MlpGaussianLearned")
                                               : std::string("ConvIwaeConditional");
                         });

}  // namespace
