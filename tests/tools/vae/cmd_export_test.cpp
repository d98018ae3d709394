// vae export (tools/vae/cmd_export.cpp): --weights-only leaves out the optimiser state; the
// smaller file gives the same numbers in every command that reads a model, and
// `vae train --resume` refuses it in one line.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "vae/checkpoint.h"
#include "vae/npy.h"

namespace {

using vae_cli_test::count_lines;
using vae_cli_test::RunResult;
using vae_cli_test::vae_run;

const std::string kFixture = std::string(VAE_FIXTURE_DIR) + "/v1/";

class ExportCli : public ::testing::Test {
 protected:
  vae_test::TempDir tmp_;
  std::string full_ = kFixture + "mlp_gaussian_learned.safetensors";
  std::string small_ = tmp_.file("small.safetensors");

  void SetUp() override {
    const RunResult r = vae_run({"export", full_, "--weights-only", "--out", small_});
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    // A table the fixture's model reads: 6 columns and the label column it was trained with.
    std::string csv = "a,b,c,d,e,f,label\n";
    for (int i = 0; i < 12; ++i)
      csv += std::to_string(1 + i % 3) + ",2,3," + std::to_string(4 + i % 2) + ",4.5,5.5," +
             std::to_string(i % 3) + "\n";
    vae_test::write_bytes(tmp_.file("table.csv"), csv);
  }
  // The stdout of `vae ARGS...` for the full and the weights-only checkpoint, after checking both
  // succeed; files named OUT in args are written once per checkpoint (OUT.full, OUT.small).
  void expect_same(std::vector<std::string> args, const std::string& out_name = "") {
    std::vector<std::string> outputs;
    for (const std::string& ckpt : {full_, small_}) {
      std::vector<std::string> a = args;
      a.insert(a.begin() + 1, ckpt);
      const std::string out = tmp_.file(out_name + (ckpt == full_ ? ".full" : ".small"));
      if (!out_name.empty()) a.insert(a.end(), {"--out", out + ext(out_name)});
      const RunResult r = vae_run(a);
      ASSERT_EQ(r.code, 0) << args[0] << ": " << r.out << r.err;
      if (!out_name.empty()) {
        std::string text = vae_test::read_bytes(out + ext(out_name));
        for (size_t at; (at = text.find(ckpt)) != std::string::npos;)
          text.replace(at, ckpt.size(), "CKPT");
        outputs.push_back(text);  // the same but for the checkpoint's name (eval's JSON has it)
      }
    }
    if (!out_name.empty()) {
      EXPECT_EQ(outputs[0], outputs[1]) << args[0];
    }
  }
  static std::string ext(const std::string& name) { return name.substr(name.find('_')); }
};

TEST_F(ExportCli, WeightsOnlyIsSmallerAndHoldsNoOptimiserState) {
  const vae::Checkpoint full = vae::load_checkpoint(full_), small = vae::load_checkpoint(small_);
  EXPECT_FALSE(full.adam_m.empty());
  EXPECT_TRUE(small.adam_m.empty());
  EXPECT_EQ(small.params, full.params);
  EXPECT_EQ(small.scaler.offset, full.scaler.offset);
  EXPECT_EQ(small.model.to_json(), full.model.to_json());
  EXPECT_LT(std::filesystem::file_size(small_) * 2, std::filesystem::file_size(full_));
  const RunResult info = vae_run({"info", small_});
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("optimiser state absent"), std::string::npos) << info.out;
}

TEST_F(ExportCli, EveryCommandThatReadsAModelGivesTheSameNumbers) {
  expect_same({"decode", kFixture + "z2.npy", "--label", "1"}, "decoded_.npy");
  const std::string data = tmp_.file("table.csv");
  expect_same({"encode", "--data", data}, "z_.npy");
  expect_same({"score", "--data", data, "--threads", "1"}, "scores_.csv");
  expect_same({"eval", "--data", data, "--threads", "1"}, "eval_.json");
}

TEST_F(ExportCli, ResumeFromWeightsOnlyFailsInOneLine) {
  const RunResult r =
      vae_run({"train", "--resume", small_, "--epochs", "3", "--out", tmp_.file("run")});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("holds weights only"), std::string::npos) << r.err;
}

TEST_F(ExportCli, RefusesAnOutputThatIsNotSafetensors) {
  const RunResult r = vae_run({"export", full_, "--weights-only", "--out", tmp_.file("x.bin")});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--out"), std::string::npos) << r.err;
}

}  // namespace
