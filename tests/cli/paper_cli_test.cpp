// End-to-end tests of the published configurations (examples/paper/*.json) and of what they
// rely on: the "train" object of a --config file (training options by name, flags beside the
// file overriding them, mistakes naming the file) and the gated_dense layer kind in a model
// description.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "test_util.h"
#include "vae/checkpoint.h"

namespace vae_cli_test {
namespace {

using vae_test::exists;
using vae_test::TempDir;
using vae_test::write_bytes;

// A gated MLP for the 6x6 images of cli_util.h, with a recipe in its "train" object.
constexpr const char* kGatedConfig = R"({
  "encoder": [{"type": "gated_dense", "units": 8}],
  "decoder": [{"type": "gated_dense", "units": 8}, {"type": "dense", "units": 36}],
  "latent": 2,
  "train": {"batch_size": 8, "lr": 0.002, "kl_warmup": "linear:3", "patience": 4,
            "epochs": 2, "binarize": "dynamic"}
})";

class PaperCli : public ::testing::Test {
 protected:
  void SetUp() override { data_ = write_data(tmp_.file("data")); }
  std::vector<std::string> train_args(const std::string& config, const std::string& out,
                                      std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {"train", "--config", config, "--data", data_, "--out", out,
                                  "--threads", "1"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  TempDir tmp_;
  std::string data_;
};

TEST_F(PaperCli, ConfigTrainObjectSetsTheRecipeAndFlagsOverrideIt) {
  const std::string cfg = tmp_.file("gated.json");
  write_bytes(cfg, kGatedConfig);
  const std::string out = tmp_.file("run");
  const auto args = train_args(cfg, out, {"--lr", "0.003"});
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const vae::Checkpoint ck = vae::load_checkpoint(out + "/last.safetensors");
  EXPECT_EQ(ck.train.batch_size, 8);
  EXPECT_EQ(ck.train.lr, 0.003);  // the flag over the file
  EXPECT_EQ(vae::kl_warmup_name(ck.train.kl_warmup), "linear:3");
  EXPECT_EQ(ck.train.patience, 4);
  EXPECT_EQ(ck.train.epochs, 2);
  EXPECT_EQ(ck.train.binarize, vae::Binarize::Dynamic);
  EXPECT_NE(ck.model.describe().find("g8"), std::string::npos) << ck.model.describe();
  // The run folder's model.json is the model alone; its options are the checkpoint's.
  EXPECT_EQ(vae_test::read_bytes(out + "/model.json").find("train"), std::string::npos);
}

TEST_F(PaperCli, ConfigTrainObjectMistakesNameTheFile) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"train": {"batch_sz": 3}})", "train.batch_sz: not a training option"},
      {R"({"train": {"batch_size": 0}})", "train.batch_size: must be in 1..65536, got 0"},
      {R"({"train": {"batch_size": [100]}})", "train.batch_size: must be a number or a string"},
      {R"({"train": {"kl_warmup": "slowly"}})", "train.kl_warmup: "},
      {R"({"train": 3})", "train: must be an object"},
  };
  int i = 0;
  for (const auto& [text, message] : cases) {
    const std::string cfg = tmp_.file("bad" + std::to_string(i++) + ".json");
    write_bytes(cfg, text);
    const std::string out = tmp_.file("bad-run");
    expect_clean_failure(train_args(cfg, out), 1, cfg + ": " + message, {out}, tmp_.path());
  }
}

// Each published configuration reads, builds its model on Fashion-MNIST and trains a few steps
// (300 images) with the file's recipe; --epochs beside it overrides the file's 2000.
TEST(PaperConfigs, EachParsesAndTrainsAFewSteps) {
  const char* env = std::getenv("FASHION_MNIST_DIR");
  const std::string folder = env ? env : "/usr/share/datasets/fashion-mnist";
  if (!exists(folder)) GTEST_SKIP() << folder << " not installed";
  const std::filesystem::path dir = std::filesystem::path(VAE_FIXTURE_DIR) / "../../examples/paper";
  TempDir tmp;
  int configs = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    ++configs;
    const std::string out = tmp.file(entry.path().stem().string());
    const std::vector<std::string> args = {
        "train", "--config", entry.path().string(), "--data", "fashion-mnist", "--binarize",
        "dynamic", "--limit", "300", "--epochs", "1", "--out", out, "--threads", "2"};
    const RunResult r = vae_run(args);
    ASSERT_EQ(r.code, 0) << describe(args, r);
    const vae::Checkpoint ck = vae::load_checkpoint(out + "/last.safetensors");
    EXPECT_EQ(ck.train.batch_size, 100) << entry.path();
    EXPECT_EQ(ck.train.lr, 5e-4) << entry.path();
    EXPECT_EQ(ck.train.kl_warmup.kind, vae::KlWarmup::Kind::Linear) << entry.path();
    EXPECT_EQ(ck.train.kl_warmup.period, 100.0) << entry.path();
    EXPECT_EQ(ck.train.patience, 50) << entry.path();
    EXPECT_EQ(ck.train.epochs, 1) << entry.path();
    EXPECT_EQ(ck.selected_on, "val") << entry.path();  // the last sixth of the training rows
    EXPECT_NE(ck.model.describe().find("g300"), std::string::npos) << ck.model.describe();
  }
  EXPECT_GE(configs, 1);
}

}  // namespace
}  // namespace vae_cli_test
