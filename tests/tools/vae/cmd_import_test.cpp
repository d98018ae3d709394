// vae import (tools/vae/cmd_import.cpp, src/export/torch_import.cpp) and vae train --init-from:
// the weights of a checkpoint, saved as a bare state_dict file, come back in exactly; the
// imported checkpoint says so, every command that reads a model takes it, --resume refuses it;
// names and shapes that do not match fail in one line naming the tensor and both shapes.
// (python/tests/test_torch.py imports a model trained in PyTorch and fine-tunes it.)
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "io/safetensors.h"
#include "vae/checkpoint.h"

namespace {

using vae_cli_test::count_lines;
using vae_cli_test::RunResult;
using vae_cli_test::vae_run;

const std::string kFixture = std::string(VAE_FIXTURE_DIR) + "/v1/";
// The model of mlp_gaussian_learned.safetensors as an import description.
const std::string kDescription =
    R"({"input_dim": 6, "num_classes": 3, "hidden": [8, 4], "latent": 2,
        "likelihood": "gaussian", "sigma": "learned"})";

class ImportCli : public ::testing::Test {
 protected:
  vae_test::TempDir tmp_;
  vae::Checkpoint source_ = vae::load_checkpoint(kFixture + "mlp_gaussian_learned.safetensors");
  std::string config_ = tmp_.file("model.json");
  std::string imported_ = tmp_.file("imported.safetensors");

  void SetUp() override { vae_test::write_bytes(config_, kDescription); }

  // The fixture's weights as a state_dict file, tensor `drop` left out and `reshaped` given
  // the shape `shape` (same values) when named.
  std::string weights(const std::string& drop = "", const std::string& reshaped = "",
                      const std::vector<int64_t>& shape = {}, const std::string& extra = "") {
    vae::SafeTensors st;
    for (const vae::ParamInfo& p : vae::param_table(source_.model)) {
      if (p.name == drop) continue;
      st.add_f32(p.name, p.name == reshaped ? shape : p.shape, source_.params.data() + p.offset);
    }
    if (!extra.empty()) st.add_f32(extra, {1}, source_.params.data());
    const std::string path = tmp_.file("state.safetensors");
    vae::write_safetensors(path, st);
    return path;
  }
  RunResult import(const std::string& w) {
    return vae_run({"import", "--weights", w, "--config", config_, "--out", imported_});
  }
  void expect_one_line_error(const RunResult& r, const std::vector<std::string>& parts) {
    EXPECT_EQ(r.code, 1) << r.out << r.err;
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    for (const std::string& part : parts)
      EXPECT_NE(r.err.find(part), std::string::npos) << part << " not in: " << r.err;
    EXPECT_FALSE(vae_test::exists(imported_));
  }
};

TEST_F(ImportCli, WeightsComeBackExactlyAndTheCheckpointSaysItWasImported) {
  const RunResult r = import(weights());
  ASSERT_EQ(r.code, 0) << r.err;
  const vae::Checkpoint c = vae::load_checkpoint(imported_);
  EXPECT_EQ(c.params, source_.params);
  EXPECT_EQ(c.model.to_json(), source_.model.to_json());
  EXPECT_EQ(c.imported_from, "state.safetensors");
  EXPECT_TRUE(c.adam_m.empty());
  EXPECT_EQ(c.state.epoch, 0);
  EXPECT_TRUE(c.train.data.data.empty());
  EXPECT_TRUE(c.scaler.identity());
}

TEST_F(ImportCli, CommandsThatReadAModelTakeIt) {
  ASSERT_EQ(import(weights()).code, 0);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"info", imported_},
        {"decode", imported_, kFixture + "z2.npy", "--label", "1", "--out", tmp_.file("x.npy")},
        {"export", imported_, "--onnx", tmp_.file("onnx")},
        {"export", imported_, "--weights-only", "--out", tmp_.file("small.safetensors")}}) {
    const RunResult r = vae_run(args);
    EXPECT_EQ(r.code, 0) << args[0] << ": " << r.err;
  }
}

TEST_F(ImportCli, ResumeRefusesItAndPointsToInitFrom) {
  ASSERT_EQ(import(weights()).code, 0);
  const RunResult r = vae_run({"train", "--resume", imported_, "--out", tmp_.file("run")});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("imported"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--init-from"), std::string::npos) << r.err;
}

TEST_F(ImportCli, AShapeThatDiffersNamesTheTensorAndBothShapes) {
  expect_one_line_error(import(weights("", "encoder.1.weight", {8, 4})),
                        {"tensor 'encoder.1.weight'", "[8, 4]", "[4, 8]"});
}

TEST_F(ImportCli, AMissingOrExtraTensorIsNamed) {
  expect_one_line_error(import(weights("decoder.logsigma")),
                        {"tensor 'decoder.logsigma' is missing", "[6]"});
  expect_one_line_error(import(weights("", "", {}, "decoder.extra")),
                        {"tensor 'decoder.extra'", "not a parameter"});
}

TEST_F(ImportCli, ADescriptionWithoutTheDataShapeIsRefused) {
  vae_test::write_bytes(config_, R"({"hidden": [8, 4], "latent": 2})");
  expect_one_line_error(import(weights()), {"model.json", "input_dim"});
}

TEST_F(ImportCli, InitFromAnotherArchitectureFailsInOneLine) {
  vae_test::write_bytes(config_, R"({"input_dim": 6, "hidden": [8], "latent": 2})");
  vae::Checkpoint small = source_;
  small.model.num_classes = 0;
  small.model.hidden = {8};
  small.model.likelihood = vae::Likelihood::Bernoulli;
  small.params.assign(vae::param_count(small.model), 0.1f);
  vae::SafeTensors st;
  for (const vae::ParamInfo& p : vae::param_table(small.model))
    st.add_f32(p.name, p.shape, small.params.data() + p.offset);
  const std::string w = tmp_.file("small_state.safetensors");
  vae::write_safetensors(w, st);
  ASSERT_EQ(import(w).code, 0);
  std::string csv = "a,b,c,d,e,f\n";
  for (int i = 0; i < 20; ++i) csv += "0,1,0,1,0," + std::to_string(i % 2) + "\n";
  vae_test::write_bytes(tmp_.file("t.csv"), csv);
  const RunResult r = vae_run({"train", "--data", tmp_.file("t.csv"), "--init-from", imported_,
                               "--hidden", "5", "--epochs", "1", "--out", tmp_.file("run")});
  EXPECT_EQ(r.code, 2) << r.out << r.err;  // an option that does not fit the run
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("--init-from"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'encoder.0.weight' is [8, 6] there, [5, 6] here"), std::string::npos)
      << r.err;
  const RunResult ok = vae_run({"train", "--data", tmp_.file("t.csv"), "--init-from", imported_,
                                "--epochs", "1", "--out", tmp_.file("run2")});
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
}

}  // namespace
