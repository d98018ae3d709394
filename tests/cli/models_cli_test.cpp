// End-to-end tests of the model options of `vae train` (--arch conv, --config, --conditional,
// --objective iwae, --sigma learned, --hidden none, --clip-grad) and of the commands that decode
// for a chosen class (--label), on the tiny generated data set of cli_util.h.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "io/png.h"
#include "vae/checkpoint.h"
#include "test_util.h"

namespace vae_cli_test {
namespace {

using vae_test::exists;
using vae_test::read_bytes;
using vae_test::TempDir;
using vae_test::write_bytes;

std::vector<std::string> train_args(const std::string& data, const std::string& out,
                                    std::vector<std::string> extra) {
  std::vector<std::string> a = {"train", "--data", data, "--out", out, "--latent", "2",
                                "--epochs", "2", "--batch-size", "16", "--threads", "1",
                                "--seed", "3"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

nlohmann::json final_of(const std::string& run) {
  return nlohmann::json::parse(read_bytes(run + "/final.json"));
}

class ModelsCli : public ::testing::Test {
 protected:
  void SetUp() override { data_ = write_data(tmp_.file("data")); }
  // Trains into a fresh folder and returns it; fails the test when training fails.
  std::string train(const std::string& name, std::vector<std::string> extra) {
    const std::string out = tmp_.file(name);
    const auto args = train_args(data_, out, std::move(extra));
    const RunResult r = vae_run(args);
    EXPECT_EQ(r.code, 0) << describe(args, r);
    EXPECT_TRUE(exists(out + "/final.json")) << describe(args, r);
    return out;
  }
  TempDir tmp_;
  std::string data_;
};

TEST_F(ModelsCli, ConvPresetTrainsEvaluatesAndSamples) {
  const std::string run = train("conv", {"--arch", "conv"});
  const auto f = final_of(run);
  EXPECT_TRUE(std::isfinite(f.at("test_loss").get<double>()));
  const std::string metrics = read_bytes(run + "/metrics.jsonl");
  EXPECT_EQ(count_lines(metrics), 2u);
  const RunResult ev = vae_run({"eval", run + "/best.safetensors", "--iw", "4", "--out",
                                tmp_.file("e.json")});
  EXPECT_EQ(ev.code, 0) << ev.err;
  const RunResult s = vae_run({"sample", run + "/best.safetensors", "-n", "6", "--cols", "3",
                               "--out", tmp_.file("s.png")});
  ASSERT_EQ(s.code, 0) << s.err;
  const vae::Image img = vae::read_png(tmp_.file("s.png"));
  EXPECT_EQ(img.width, 3 * kSide + 4 * 2);
  EXPECT_EQ(img.height, 2 * kSide + 3 * 2);
  // The checkpoint names its layers: a conv encoder and a conv_transpose output layer.
  const RunResult info = vae_run({"info", run + "/last.safetensors"});
  EXPECT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("conv"), std::string::npos) << info.out;
}

TEST_F(ModelsCli, ConfigFileDescribesTheLayers) {
  const std::string cfg = tmp_.file("model.json");
  write_bytes(cfg, R"({"encoder": [{"type": "conv", "channels": 4, "kernel": 3, "stride": 2, "padding": 1},
                                   {"type": "dense", "units": 16}],
                       "decoder": [{"type": "dense", "units": 36}, {"type": "reshape", "shape": [4, 3, 3]},
                                   {"type": "conv_transpose", "channels": 1, "kernel": 4, "stride": 2,
                                    "padding": 1}],
                       "activation": "tanh"})");
  const std::string run = train("custom", {"--config", cfg});
  const std::string log = read_bytes(run + "/metrics.jsonl");
  EXPECT_EQ(count_lines(log), 2u);
  // A flag beside the file overrides it.
  EXPECT_TRUE(exists(run + "/model.json"));  // the layers, for the report's command line
  const RunResult info1 = vae_run({"info", run + "/last.safetensors"});
  EXPECT_NE(info1.out.find(", tanh"), std::string::npos) << info1.out;
  const std::string run2 = train("custom2", {"--config", cfg, "--activation", "elu"});
  const RunResult info2 = vae_run({"info", run2 + "/last.safetensors"});
  EXPECT_NE(info2.out.find(", elu"), std::string::npos) << info2.out;
}

TEST_F(ModelsCli, BadConfigsFailWithOneLineNamingTheFileAndField) {
  struct Case {
    std::string json, names;
  };
  const std::vector<Case> cases = {
      {"{\"encoder\": [{\"type\": \"conv\", \"channels\": 4}], \"decoder\": []}",
       "encoder[0].kernel: missing"},
      {"{\"encoder\": [], \"decoder\": [{\"type\": \"dense\", \"units\": 30}]}",
       "decoder: gives 30 values per example but the data have 36"},
      {"{\"latent\": \"two\"}", "latent: must be an integer"},
      {"{\"activation\": \"foo\"}", "activation: unknown activation 'foo'"},
      {"{\"encoder\": [", "not valid JSON"},
  };
  const std::string cfg = tmp_.file("bad.json");
  for (const Case& c : cases) {
    write_bytes(cfg, c.json);
    const std::string out = tmp_.file("badrun");
    expect_clean_failure(train_args(data_, out, {"--config", cfg}), 1, "bad.json: " + c.names,
                         {out}, tmp_.path());
  }
  expect_clean_failure(train_args(data_, tmp_.file("r"), {"--config", tmp_.file("missing.json")}),
                       1, "missing.json", {tmp_.file("r")}, tmp_.path());
  write_bytes(cfg, "{}");
  expect_clean_failure(train_args(data_, tmp_.file("r"), {"--config", cfg, "--hidden", "4"}), 2,
                       "--hidden", {tmp_.file("r")}, tmp_.path());
}

TEST_F(ModelsCli, BadModelOptionsAreUsageErrors) {
  const std::string out = tmp_.file("r");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--arch", "resnet"}, "--arch"},
      {{"--objective", "elbo", "--k", "4"}, "--k"},
      {{"--objective", "iwae", "--k", "0"}, "--k"},
      {{"--objective", "iwae", "--k", "3", "--beta", "2"}, "--objective: iwae"},
      {{"--objective", "wake-sleep"}, "--objective"},
      {{"--sigma", "learned"}, "--sigma: 'learned' needs"},  // the default likelihood is bernoulli
      {{"--sigma", "wide"}, "--sigma"},
      {{"--hidden", "8,x"}, "--hidden"},
      {{"--clip-grad", "-1"}, "--clip-grad"},
      {{"--arch", "conv", "--hidden", "8"}, "--hidden"},
  };
  for (const auto& [extra, names] : cases)
    expect_clean_failure(train_args(data_, out, extra), 2, names, {out}, tmp_.path());
}

TEST_F(ModelsCli, ConditionalModelSamplesTheClassAskedFor) {
  const std::string run = train("cvae", {"--conditional", "--hidden", "16"});
  const std::string ckpt = run + "/best.safetensors";
  // Without --label: one row of --cols samples per class (the data have 4 classes).
  const RunResult grid = vae_run({"sample", ckpt, "--cols", "5", "--out", tmp_.file("g.png")});
  ASSERT_EQ(grid.code, 0) << grid.err;
  const vae::Image g = vae::read_png(tmp_.file("g.png"));
  EXPECT_EQ(g.width, 5 * kSide + 6 * 2);
  EXPECT_EQ(g.height, 4 * kSide + 5 * 2);
  EXPECT_NE(grid.out.find("4 classes"), std::string::npos) << grid.out;
  // --label picks one class; different classes give different pictures from the same z.
  const RunResult s0 = vae_run({"sample", ckpt, "--label", "0", "-n", "4", "--out", tmp_.file("0.png")});
  const RunResult s3 = vae_run({"sample", ckpt, "--label", "3", "-n", "4", "--out", tmp_.file("3.png")});
  ASSERT_EQ(s0.code, 0) << s0.err;
  ASSERT_EQ(s3.code, 0) << s3.err;
  EXPECT_NE(read_bytes(tmp_.file("0.png")), read_bytes(tmp_.file("3.png")));
  // Every data command reads the labels from the data.
  for (const std::vector<std::string>& cmd :
       {std::vector<std::string>{"eval", ckpt, "--iw", "3", "--out", tmp_.file("e.json")},
        {"reconstruct", ckpt, "-n", "4", "--out", tmp_.file("r.png")},
        {"encode", ckpt, "--out", tmp_.file("z.npy")},
        {"interpolate", ckpt, "--out", tmp_.file("i.png")},
        {"traverse", ckpt, "--out", tmp_.file("t.png")},
        {"score", ckpt, "--out", tmp_.file("s.csv")}}) {
    const RunResult r = vae_run(cmd);
    EXPECT_EQ(r.code, 0) << describe(cmd, r);
  }
  const RunResult d = vae_run({"decode", ckpt, tmp_.file("z.npy"), "--label", "2", "--out",
                               tmp_.file("d.png")});
  EXPECT_EQ(d.code, 0) << d.err;
  expect_clean_failure({"sample", ckpt, "--label", "4", "--out", tmp_.file("x.png")}, 2, "--label",
                       {tmp_.file("x.png")}, tmp_.path());
  EXPECT_TRUE(exists(run + "/report.html"));
}

TEST_F(ModelsCli, LabelOnAnUnconditionalModelIsAUsageError) {
  const std::string run = train("plain", {"--hidden", "8"});
  expect_clean_failure({"sample", run + "/best.safetensors", "--label", "1", "--out",
                        tmp_.file("x.png")},
                       2, "--label", {tmp_.file("x.png")}, tmp_.path());
}

TEST_F(ModelsCli, IwaeLearnedSigmaAndLinearModelsTrain) {
  const std::string iw = train("iwae", {"--objective", "iwae", "--k", "3", "--hidden", "8"});
  const auto line = nlohmann::json::parse(split_lines(read_bytes(iw + "/metrics.jsonl")).back());
  EXPECT_TRUE(std::isfinite(line.at("train_objective").get<double>()));
  EXPECT_TRUE(std::isfinite(line.at("train_loss").get<double>()));
  const std::string gs = train("sigma", {"--likelihood", "gaussian", "--sigma", "learned",
                                         "--hidden", "8", "--clip-grad", "5"});
  const auto f = final_of(gs);
  EXPECT_NE(f.at("likelihood").get<std::string>().find("learned"), std::string::npos) << f.dump();
  const std::string lin = train("linear", {"--hidden", "none"});
  EXPECT_TRUE(std::isfinite(final_of(lin).at("test_loss").get<double>()));
}

// Data-parallel training through the command: batches of 64 on --threads 2 run as two parts of
// 32 rows whose gradients are summed in a fixed order. The epochs' figures are the one-thread
// run's to rounding, the weights are not byte-identical (the sums really ran in another order),
// and the two-thread run is itself reproducible bit for bit.
TEST_F(ModelsCli, TwoThreadsTrainDataParallelAsOneThreadDoes) {
  auto run = [&](const std::string& name, const std::string& threads) {
    const std::string out = tmp_.file(name);
    const std::vector<std::string> args = {"train", "--data", data_, "--out", out, "--latent", "2",
                                           "--epochs", "2", "--batch-size", "64", "--val-split", "0",
                                           "--threads", threads, "--seed", "3"};
    const RunResult r = vae_run(args);
    EXPECT_EQ(r.code, 0) << describe(args, r);
    return out;
  };
  const std::string one = run("one", "1"), two = run("two", "2"), again = run("again", "2");
  const auto m1 = split_lines(read_bytes(one + "/metrics.jsonl"));
  const auto m2 = split_lines(read_bytes(two + "/metrics.jsonl"));
  ASSERT_EQ(m1.size(), 2u);
  ASSERT_EQ(m2.size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    const auto a = nlohmann::json::parse(m1[e]), b = nlohmann::json::parse(m2[e]);
    for (const char* key : {"train_loss", "test_loss"}) {
      const double x = a.at(key).get<double>(), y = b.at(key).get<double>();
      EXPECT_NEAR(y, x, 1e-4 * std::fabs(x)) << key << " epoch " << e + 1;
    }
  }
  const auto params = [](const std::string& run) {
    return vae::load_checkpoint(run + "/last.safetensors").params;
  };
  EXPECT_NE(params(one), params(two));
  EXPECT_EQ(params(two), params(again));
}

}  // namespace
}  // namespace vae_cli_test
