// End-to-end tests of the published configurations (examples/paper/*.json) and of what they
// rely on: the "train" object of a --config file (training options by name, flags beside the
// file overriding them, mistakes naming the file), the gated_dense layer kind in a model
// description, the VampPrior and the hierarchical VAE through the commands (train, info, sample,
// score, eval, ...).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "test_util.h"
#include "io/png.h"
#include "vae/checkpoint.h"
#include "vae/dataset.h"
#include "vae/eval.h"
#include "vae/infer.h"
#include "export/onnx_export.h"

namespace vae_cli_test {
namespace {

using vae_test::exists;
using vae_test::read_bytes;
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

// A model field the file sets and validation refuses is the file's fault (exit code 1, named
// by the file and the field); the same field given as a flag beside the file is the command
// line's (exit code 2, named by the flag, whatever the file says).
TEST_F(PaperCli, ConfigModelMistakesNameTheFileAndFlagsNameThemselves) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"latent": 0})", "latent: must be in 1..16384, got 0"},
      {R"({"hidden": [0]})", "hidden: each width must be in 1..65536, got 0"},
      {R"({"likelihood": "gaussian", "sigma": -1})", "sigma: must be a positive number"},
      {R"({"prior": "vamp", "pseudo_inputs": 0})", "pseudo_inputs: must be in 1..10000, got 0"},
      {R"({"latent": 4, "top_latent": 9})", "top_latent: must be in 0..3"},
      {R"({"encoder": [{"type": "dense", "units": 4}], "decoder": [], "latent": 0})",
       "latent: must be in 1..16384, got 0"},
  };
  int i = 0;
  for (const auto& [text, message] : cases) {
    const std::string cfg = tmp_.file("model" + std::to_string(i++) + ".json");
    write_bytes(cfg, text);
    const std::string out = tmp_.file("bad-run");
    expect_clean_failure(train_args(cfg, out), 1, cfg + ": " + message, {out}, tmp_.path());
  }
  for (const char* text : {R"({"latent": 3})", R"({"latent": 0})",
                           R"({"encoder": [{"type": "dense", "units": 4}], "decoder": [], "latent": 3})"}) {
    const std::string cfg = tmp_.file("model-flag.json");
    write_bytes(cfg, text);
    const std::string out = tmp_.file("bad-run");
    expect_clean_failure(train_args(cfg, out, {"--latent", "0"}), 2,
                         "vae: --latent: must be in 1..16384, got 0", {out}, tmp_.path());
  }
}

// The VampPrior from the command line: trained, it is in the checkpoint (model JSON and the
// pseudo-inputs' tensor, which load back as they were saved), info names it, sample draws from
// the mixture (the same pictures as the inference API's sample), and score --iw gives the
// per-example figures of the library's importance-weighted estimate.
TEST_F(PaperCli, VampPriorTrainsAndEverySubcommandUsesIt) {
  const std::string out = tmp_.file("vamp");
  const std::vector<std::string> args = {"train", "--data", data_, "--out", out, "--threads", "2",
                                         "--hidden", "8", "--latent", "2", "--epochs", "2",
                                         "--batch-size", "16", "--prior", "vamp",
                                         "--pseudo-inputs", "5"};
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const std::string ckpt = out + "/last.safetensors";
  const vae::Checkpoint ck = vae::load_checkpoint(ckpt);
  EXPECT_EQ(ck.model.prior, vae::Prior::Vamp);
  EXPECT_EQ(ck.model.pseudo_inputs, 5);
  // Saved and loaded back: the pseudo-inputs are a trained tensor of their own.
  vae::Vae<float> model = vae::model_from_checkpoint(ck, 16);
  bool found = false;
  for (const vae::ParamInfo& p : model.params_info()) {
    if (p.name != "prior.pseudo_inputs") continue;
    found = true;
    EXPECT_EQ(p.shape, (std::vector<int64_t>{5, 36}));
    for (size_t i = 0; i < p.numel; ++i) ASSERT_TRUE(std::isfinite(model.params()[p.offset + i]));
  }
  EXPECT_TRUE(found);

  const RunResult info = vae_run({"info", ckpt});
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("prior        vamp (K = 5 pseudo-inputs)"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("prior.pseudo_inputs"), std::string::npos) << info.out;

  const std::string png = tmp_.file("s.png");
  const RunResult sample = vae_run({"sample", ckpt, "-n", "8", "--seed", "4", "--out", png});
  ASSERT_EQ(sample.code, 0) << sample.err;
  const vae::Image img = vae::read_png(png);
  const vae::Model api(ck);
  std::vector<float> x(8 * 36);
  api.sample(4, vae::MutView(x.data(), 8, 36));
  for (int t = 0; t < 8; ++t)  // tile t at (2 + 8t, 2) in the grid, 8-bit grey
    for (int i = 0; i < 36; ++i) {
      const int px = 2 + t * 8 + i % 6, py = 2 + i / 6;
      const double grey = img.pixels[(static_cast<size_t>(py) * img.width + px) * img.channels];
      ASSERT_NEAR(grey / 255.0, x[t * 36 + i], 1.0 / 255 + 1e-6) << t << " " << i;
    }

  const std::string csv = tmp_.file("scores.csv");
  const RunResult score = vae_run({"score", ckpt, "--data", data_, "--iw", "50", "--threads", "1",
                                   "--out", csv});
  ASSERT_EQ(score.code, 0) << score.err;
  const auto rows = split_lines(read_bytes(csv));
  ASSERT_EQ(rows.size(), static_cast<size_t>(kTestN) + 1);
  const vae::Checkpoint loaded = vae::load_checkpoint(ckpt);
  vae::Dataset test = vae::load_data(data_).test;
  loaded.scaler.apply(test);
  const vae::IwResult iw = vae::evaluate_iw(vae::model_from_checkpoint(loaded, 16), test, 50);
  for (size_t i = 1; i < rows.size(); ++i) {
    std::vector<double> v;
    std::stringstream ss(rows[i]);
    for (std::string f; std::getline(ss, f, ',');) v.push_back(std::stod(f));
    ASSERT_EQ(v.size(), 9u) << rows[i];
    EXPECT_NEAR(v[7], -iw.per_example[i - 1], 1e-3 * (1 + std::fabs(v[7]))) << rows[i];
    EXPECT_NEAR(v[3], v[4] + v[5], 1e-3);  // −ELBO = recon + the KL estimated at z
  }
  // eval --iw: the same estimate's mean.
  const std::string ev = tmp_.file("eval.json");
  const RunResult e = vae_run({"eval", ckpt, "--data", data_, "--iw", "50", "--out", ev});
  ASSERT_EQ(e.code, 0) << e.err;
  const auto j = nlohmann::json::parse(read_bytes(ev));
  EXPECT_NEAR(j.at("iw").at("log_likelihood").get<double>(), iw.log_likelihood, 1e-3);
}

TEST_F(PaperCli, VampPriorRefusalsNameTheOption) {
  const std::string out = tmp_.file("bad");
  expect_clean_failure({"train", "--data", data_, "--out", out, "--prior", "gmm"}, 2,
                       "prior: must be 'standard' or 'vamp', got 'gmm'", {out}, tmp_.path());
  expect_clean_failure({"train", "--data", data_, "--out", out, "--prior", "vamp",
                        "--pseudo-inputs", "0"},
                       2, "pseudo-inputs", {out}, tmp_.path());
  expect_clean_failure({"train", "--data", data_, "--out", out, "--prior", "vamp",
                        "--conditional"},
                       2, "needs an unconditional model", {out}, tmp_.path());
  expect_clean_failure({"train", "--data", data_, "--out", out, "--prior", "vamp",
                        "--free-bits", "0.5"},
                       2, "free", {out}, tmp_.path());
}

// The hierarchical VAE from the command line: trained (its report written), saved and loaded
// back, and every command that reads a model runs on it; the exports it has no form for refuse
// with one line naming the field.
TEST_F(PaperCli, HierarchyTrainsAndEverySubcommandUsesIt) {
  const std::string out = tmp_.file("hvae");
  const std::vector<std::string> args = {"train", "--data", data_, "--out", out, "--threads", "1",
                                         "--hidden", "8", "--latent", "3", "--top-latent", "1",
                                         "--epochs", "2", "--batch-size", "16"};
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_TRUE(exists(out + "/report.html"));
  const std::string ckpt = out + "/last.safetensors";
  const vae::Checkpoint ck = vae::load_checkpoint(ckpt);
  EXPECT_EQ(ck.model.top_latent, 1);
  const RunResult info = vae_run({"info", ckpt});
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("two layers z1 2 + z2 1"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("prior_z1.mu.weight"), std::string::npos) << info.out;
  for (const std::vector<std::string>& cmd :
       {std::vector<std::string>{"eval", ckpt, "--data", data_, "--iw", "20", "--out",
                                 tmp_.file("e.json")},
        {"score", ckpt, "--data", data_, "--iw", "5", "--out", tmp_.file("s.csv")},
        {"sample", ckpt, "-n", "8", "--out", tmp_.file("s.png")},
        {"reconstruct", ckpt, "-n", "4", "--out", tmp_.file("r.png")},
        {"encode", ckpt, "--out", tmp_.file("z.npy")},
        {"decode", ckpt, tmp_.file("z.npy"), "--out", tmp_.file("d.png")},
        {"latents", ckpt, "--out", tmp_.file("l.png")},
        {"manifold", ckpt, "--size", "3", "--out", tmp_.file("m.png")},
        {"interpolate", ckpt, "--steps", "3", "--out", tmp_.file("i.png")},
        {"traverse", ckpt, "--steps", "3", "--out", tmp_.file("t.png")}}) {
    const RunResult c = vae_run(cmd);
    EXPECT_EQ(c.code, 0) << describe(cmd, c);
  }
  // eval --iw: the library's estimate, which rises above the ELBO.
  const auto j = nlohmann::json::parse(read_bytes(tmp_.file("e.json")));
  vae::Dataset test = vae::load_data(data_).test;
  ck.scaler.apply(test);
  const vae::IwResult iw = vae::evaluate_iw(vae::model_from_checkpoint(ck, 16), test, 20);
  EXPECT_NEAR(j.at("iw").at("log_likelihood").get<double>(), iw.log_likelihood, 1e-3);

  const std::string onnx = tmp_.file("onnx");
  const RunResult e = vae_run({"export", ckpt, "--onnx", onnx});
  EXPECT_NE(e.code, 0);
  if (vae::onnx_export_available()) {
    EXPECT_EQ(e.code, 2) << e.err;
    EXPECT_NE(e.err.find("two-layer model has no ONNX form"), std::string::npos) << e.err;
    EXPECT_EQ(split_lines(e.err).size(), 1u) << e.err;
  }
  const std::string desc = tmp_.file("import.json");
  write_bytes(desc, R"({"input_dim": 36, "hidden": [8], "latent": 3, "top_latent": 1})");
  expect_clean_failure({"import", "--weights", tmp_.file("w.safetensors"), "--config", desc,
                        "--out", tmp_.file("imported.safetensors")},
                       2, "not a two-layer model", {tmp_.file("imported.safetensors")},
                       tmp_.path());
}

TEST_F(PaperCli, HierarchyRefusalsNameTheOption) {
  const std::string out = tmp_.file("bad");
  expect_clean_failure({"train", "--data", data_, "--out", out, "--latent", "2", "--top-latent",
                        "2"},
                       2, "top-latent: must be in 0..1", {out}, tmp_.path());
  expect_clean_failure({"train", "--data", data_, "--out", out, "--top-latent", "1", "--prior",
                        "vamp"},
                       2, "takes the standard prior on z2", {out}, tmp_.path());
  expect_clean_failure({"train", "--data", data_, "--out", out, "--top-latent", "1",
                        "--free-bits", "0.5"},
                       2, "one stochastic layer", {out}, tmp_.path());
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
    if (entry.path().stem() == "hvae-gated") {
      EXPECT_EQ(ck.model.latent, 80);
      EXPECT_EQ(ck.model.top_latent, 40);
    }
    if (entry.path().stem() == "vae-vamp") {
      EXPECT_EQ(ck.model.prior, vae::Prior::Vamp);
      EXPECT_EQ(ck.model.pseudo_inputs, 500);
      EXPECT_EQ(ck.model.latent, 40);
    }
  }
  EXPECT_GE(configs, 1);
}

// A stand-in for `vae` in tmp: logs each call's arguments to `log`, and for eval writes a JSON
// with NLL 1.5 to its last argument (the --out file). Returns its path.
std::string stand_in_vae(TempDir& tmp, const std::string& log) {
  const std::string stub = tmp.file("vae");
  vae_test::write_bytes(stub, "#!/bin/bash\necho \"$*\" >> " + log +
                                  "\nif [[ $1 == eval ]]; then echo '{\"iw\": {\"nll\": 1.5}}' > "
                                  "\"${@: -1}\"; fi\n");
  std::filesystem::permissions(stub, std::filesystem::perms::owner_all);
  return stub;
}

// scripts/paper.sh resumes a run stopped with Ctrl-C (its final.json says "interrupted") and
// only evaluates a finished one. The `vae` it runs is a stand-in that logs its arguments and
// writes eval's JSON.
TEST(PaperScript, AnInterruptedRunResumesAndAFinishedOneIsOnlyEvaluated) {
  const std::filesystem::path root = std::filesystem::path(VAE_FIXTURE_DIR) / "../..";
  TempDir tmp;
  const std::string log = tmp.file("calls"), stub = stand_in_vae(tmp, log);
  const std::string run = tmp.file("runs/vae-gated");
  std::filesystem::create_directories(run);
  for (const char* f : {"last.safetensors", "best.safetensors"}) vae_test::write_bytes(run + "/" + f, "");
  const auto paper = [&] {
    std::filesystem::remove(log);
    const std::vector<std::string> args = {(root / "scripts/paper.sh").string(), "--vae", stub,
                                           "--runs", tmp.file("runs"), "--only", "vae-gated"};
    const RunResult r = run_binary("/bin/bash", args);
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    return read_bytes(log);
  };
  const std::string stopped = R"({"best_epoch": 3, "epochs_run": 4, "interrupted": true})";
  vae_test::write_bytes(run + "/final.json", stopped);
  EXPECT_NE(paper().find("train --resume " + run + "/last.safetensors"), std::string::npos);
  vae_test::write_bytes(run + "/final.json", R"({"best_epoch": 3, "epochs_run": 53, "interrupted": false})");
  // A best.safetensors newer than the evaluation is evaluated again.
  std::filesystem::last_write_time(run + "/eval-iw5000.json",
                                   std::filesystem::file_time_type::clock::now() - std::chrono::hours(1));
  const std::string calls = paper();
  EXPECT_EQ(calls.find("train"), std::string::npos) << calls;
  EXPECT_NE(calls.find("eval " + run + "/best.safetensors --iw 5000"), std::string::npos) << calls;
}

// With --only NAME the script trains and evaluates that row alone, and its table still shows every
// configured row as its run folder stands: another finished run's figure, "(not run)" where no
// folder exists.
TEST(PaperScript, OnlyTrainsOneRowAndTheTableShowsEveryRun) {
  const std::filesystem::path root = std::filesystem::path(VAE_FIXTURE_DIR) / "../..";
  TempDir tmp;
  const std::string log = tmp.file("calls"), stub = stand_in_vae(tmp, log);
  const std::string vae_run_dir = tmp.file("runs/vae-gated"), hvae = tmp.file("runs/hvae-gated");
  for (const std::string& run : {vae_run_dir, hvae}) {
    std::filesystem::create_directories(run);
    vae_test::write_bytes(run + "/best.safetensors", "");
    vae_test::write_bytes(run + "/final.json",
                          R"({"best_epoch": 7, "epochs_run": 9, "interrupted": false})");
  }
  vae_test::write_bytes(hvae + "/eval-iw5000.json", R"({"iw": {"nll": 226.97}})");
  const std::vector<std::string> args = {(root / "scripts/paper.sh").string(), "--vae", stub,
                                         "--runs", tmp.file("runs"), "--only", "vae-gated"};
  const RunResult r = run_binary("/bin/bash", args);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const std::string calls = read_bytes(log);
  EXPECT_EQ(calls.find("hvae-gated"), std::string::npos) << calls;  // the other row is left alone
  EXPECT_NE(calls.find("eval " + vae_run_dir + "/best.safetensors"), std::string::npos) << calls;
  EXPECT_NE(r.out.find("| 226.97 | 7 / 9 |"), std::string::npos) << r.out;  // hvae-gated's row
  EXPECT_NE(r.out.find("| 1.50 | 7 / 9 |"), std::string::npos) << r.out;    // vae-gated's row
  const auto count = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = r.out.find(what); at != std::string::npos; at = r.out.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("(not run)"), 2u) << r.out;           // vae-vamp and convhvae: no folder
  EXPECT_EQ(count("(no configuration)"), 1u) << r.out;  // the Exemplar VAE has no file
}

}  // namespace
}  // namespace vae_cli_test
