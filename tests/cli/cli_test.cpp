// The `vae` command end to end: each test runs the built binary (VAE_BINARY) as a subprocess on a
// tiny generated MNIST-format data set (6x6 images, 64 train and 16 test examples) and checks its
// exit status, its stdout and stderr (captured separately), and the files it leaves behind.
//
// Exit codes under test (tools/vae/cli.h): 0 success, 2 usage, 1 anything else. Every error is
// exactly one line on stderr naming the file or option, and leaves no output file (and no
// "*.tmp.<pid>" file from an interrupted atomic write) behind.
//
// Legend: N examples, D = 36 values per 6x6 image, H = 8 hidden units, Z = 2 latent dimensions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "io/png.h"
#include "test_util.h"
#include "vae/checkpoint.h"
#include "vae/model.h"
#include "vae/npy.h"
#include "vae/trainer.h"
#include "viz/report.h"

namespace vae_cli_test {
namespace {

namespace fs = std::filesystem;
using vae_test::exists;
using vae_test::read_bytes;
using vae_test::TempDir;
using vae_test::write_bytes;

// ---------------------------------------------------------------------------------------------
// The tiny data set of cli_util.h, as a model sees it

constexpr int kD = kSide * kSide;        // D
constexpr int kHidden = 8, kLatent = 2;  // H, Z

/// The options of every tiny training run (the data and --out are added by the caller).
std::vector<std::string> tiny_train_args(const std::string& data, const std::string& out,
                                         int epochs) {
  return {"train",
          "--data",
          data,
          "--out",
          out,
          "--hidden",
          std::to_string(kHidden),
          "--latent",
          std::to_string(kLatent),
          "--epochs",
          std::to_string(epochs),
          "--batch-size",
          "16",
          "--threads",
          "1",
          "--seed",
          "7"};
}

/// `args` with `option` set to `value`: the value after an option already present is replaced
/// (CLI11 refuses an option given twice), otherwise the pair is appended.
std::vector<std::string> with_option(std::vector<std::string> args, const std::string& option,
                                     const std::string& value) {
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == option) {
      args[i + 1] = value;
      return args;
    }
  args.push_back(option);
  args.push_back(value);
  return args;
}

vae::ModelConfig tiny_config() {
  vae::ModelConfig c;
  c.input_dim = kD;
  c.hidden = {kHidden};
  c.latent = kLatent;
  c.height = c.width = kSide;
  c.channels = 1;
  return c;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// ---------------------------------------------------------------------------------------------
// One data folder and one trained 2-epoch run shared by every test that only reads them.

class Cli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    shared_ = std::make_unique<TempDir>();
    data_ = write_data(shared_->file("data"));
    run_ = shared_->file("run");
    const auto args = tiny_train_args(data_, run_, 2);
    train_result_ = vae_run(args);
    ASSERT_EQ(train_result_.code, 0) << describe(args, train_result_);
  }
  static void TearDownTestSuite() { shared_.reset(); }

  void SetUp() override { ASSERT_EQ(train_result_.code, 0) << "the shared training run failed"; }

  static std::string last() { return run_ + "/last.safetensors"; }

  static std::unique_ptr<TempDir> shared_;
  static std::string data_, run_;
  static RunResult train_result_;
  TempDir tmp_;  // per-test scratch
};

std::unique_ptr<TempDir> Cli::shared_;
std::string Cli::data_, Cli::run_;
RunResult Cli::train_result_;

// ---------------------------------------------------------------------------------------------
// 1. train

TEST_F(Cli, TrainWritesRunFolder) {
  for (const char* name : {"last.safetensors", "best.safetensors", "metrics.jsonl", "samples.png",
                           "reconstructions.png"})
    EXPECT_TRUE(exists(run_ + "/" + name)) << name;
  EXPECT_EQ(temp_files_under(run_), std::vector<std::string>{});

  // One JSON object per epoch, in order, whose loss is its two parts (each rounded to 1e-4).
  const std::vector<std::string> lines = split_lines(read_bytes(run_ + "/metrics.jsonl"));
  ASSERT_EQ(lines.size(), 2u);
  for (size_t i = 0; i < lines.size(); ++i) {
    SCOPED_TRACE(lines[i]);
    const nlohmann::json j = nlohmann::json::parse(lines[i]);
    ASSERT_TRUE(j.is_object());
    // The default validation split (rows of the training data) is scored each epoch.
    for (const char* key : {"epoch", "train_loss", "val_loss", "train_recon", "train_kl",
                            "val_recon", "val_kl", "examples_per_s", "seconds"}) {
      ASSERT_TRUE(j.contains(key)) << key;
      ASSERT_TRUE(j[key].is_number()) << key;
      EXPECT_TRUE(std::isfinite(j[key].get<double>())) << key;
    }
    EXPECT_EQ(j["epoch"].get<int>(), static_cast<int>(i + 1));
    EXPECT_NEAR(j["train_loss"].get<double>(),
                j["train_recon"].get<double>() + j["train_kl"].get<double>(), 3e-4);
    EXPECT_NEAR(j["val_loss"].get<double>(),
                j["val_recon"].get<double>() + j["val_kl"].get<double>(), 3e-4);
    EXPECT_GT(j["train_recon"].get<double>(), 0);
    EXPECT_GE(j["train_kl"].get<double>(), 0);
    EXPECT_GT(j["examples_per_s"].get<double>(), 0);
    EXPECT_GE(j["seconds"].get<double>(), 0);
  }

  // 64 samples of 6x6 in 8 columns with 2 px padding: 8*6 + 9*2 = 66 each way.
  const vae::Image samples = vae::read_png(run_ + "/samples.png");
  EXPECT_EQ(samples.width, 66);
  EXPECT_EQ(samples.height, 66);
  EXPECT_EQ(samples.channels, 1);
  EXPECT_GT(pixel_variance(samples), 0);
  // The 16 test images over their reconstructions, 8 per row: 4 rows of tiles, 4*6 + 5*2 = 34.
  const vae::Image recon = vae::read_png(run_ + "/reconstructions.png");
  EXPECT_EQ(recon.width, 66);
  EXPECT_EQ(recon.height, 34);
  EXPECT_EQ(recon.channels, 1);
  EXPECT_GT(pixel_variance(recon), 0);

  // Neither stream is a terminal: plain lines, no progress bar redrawn with \r or escapes.
  const RunResult& r = train_result_;
  EXPECT_EQ(r.out.find('\r'), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find('\033'), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("epoch 1/2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("epoch 2/2"), std::string::npos) << r.out;
  EXPECT_TRUE(!r.out.empty() && r.out.back() == '\n') << r.out;
}

TEST_F(Cli, TrainReadsGzipData) {
  const std::string data = write_gz_data(tmp_.file("gzdata"));
  const std::string run = tmp_.file("run");
  const auto args = tiny_train_args(data, run, 1);
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_EQ(r.err, "");
  EXPECT_TRUE(exists(run + "/last.safetensors"));
  EXPECT_EQ(split_lines(read_bytes(run + "/metrics.jsonl")).size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// 2. eval

TEST_F(Cli, EvalPrintsJsonAndWritesOut) {
  const std::string out = tmp_.file("eval.json");
  const std::vector<std::string> args = {"eval", last(), "--threads", "1", "--out", out};
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  // stderr carries nothing but the collapse warning, exactly when the JSON lists it.
  if (j.at("warnings").empty()) {
    EXPECT_EQ(r.err, "");
  } else {
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("warning: posterior collapse"), std::string::npos) << r.err;
  }
  EXPECT_EQ(j.at("examples").get<int>(), kTestN);
  EXPECT_EQ(j.at("likelihood").get<std::string>(), "bernoulli");
  const double loss = j.at("loss").get<double>(), recon = j.at("recon").get<double>(),
               kl = j.at("kl").get<double>();
  EXPECT_TRUE(std::isfinite(loss));
  EXPECT_GT(recon, 0);
  EXPECT_GE(kl, 0);
  EXPECT_NEAR(loss, recon + kl, 2e-4);  // each printed to 4 decimals
  ASSERT_TRUE(exists(out));
  EXPECT_EQ(read_bytes(out), r.out);
  EXPECT_EQ(temp_files_under(tmp_.path()), std::vector<std::string>{});
}

TEST_F(Cli, EvalReportsImportanceWeightedBoundLatentsAndReconstruction) {
  const std::vector<std::string> args = {"eval", last(), "--threads", "1", "--iw", "50"};
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  const double loss = j.at("loss").get<double>();
  const auto& iw = j.at("iw");
  EXPECT_EQ(iw.at("k").get<int>(), 50);
  EXPECT_NEAR(iw.at("nll").get<double>(), -iw.at("log_likelihood").get<double>(), 1e-9);
  EXPECT_LT(iw.at("nll").get<double>(), loss);  // the K = 50 bound is tighter than the ELBO
  EXPECT_GT(iw.at("std_error").get<double>(), 0);
  EXPECT_NEAR(j.at("bits_per_dim").get<double>(), loss / (36 * std::log(2.0)), 1e-3);
  const auto& lat = j.at("latent");
  EXPECT_EQ(lat.at("kl_per_dim").size(), 2u);
  // Each dimension's KL and the active units (Var_x μ_j > 0.01) from `vae encode`'s μ and
  // log σ² of the same examples, computed here.
  const std::string codes = tmp_.file("codes.npy");
  const RunResult enc = vae_run({"encode", last(), "--threads", "1", "--out", codes});
  ASSERT_EQ(enc.code, 0) << enc.err;
  const vae::NpyArray z = vae::read_npy(codes);  // (N, 2, Z): μ then log σ²
  ASSERT_EQ(z.shape, (std::vector<int64_t>{kTestN, 2, 2}));
  int active = 0;
  for (size_t d = 0; d < 2; ++d) {
    double kl = 0, sum = 0, sum_sq = 0;
    for (size_t n = 0; n < static_cast<size_t>(kTestN); ++n) {
      const double m = z.data[n * 4 + d], lv = z.data[n * 4 + 2 + d];
      kl += -0.5 * (1 + lv - m * m - std::exp(lv));
      sum += m;
      sum_sq += m * m;
    }
    const double mean = sum / kTestN, var = sum_sq / kTestN - mean * mean;
    active += var > 0.01;
    EXPECT_NEAR(lat.at("kl_per_dim")[d].get<double>(), kl / kTestN, 2e-4) << "dimension " << d;
  }
  EXPECT_EQ(lat.at("active_units").get<int>(), active);
  double kl_sum = 0;
  for (const auto& v : lat.at("kl_per_dim")) kl_sum += v.get<double>();
  // The analytic KL per dimension sums to the ELBO's KL term (each printed to 4 decimals).
  EXPECT_NEAR(kl_sum, j.at("kl").get<double>(), 2e-4);
  const double mse = j.at("reconstruction").at("mse").get<double>();
  EXPECT_GT(mse, 0);
  // Pixels in [0, 1]: PSNR = 10 log10(1 / MSE).
  EXPECT_NEAR(j.at("reconstruction").at("psnr_db").get<double>(), 10 * std::log10(1 / mse), 1e-4);
}

TEST_F(Cli, ScoreWritesOneRowPerExample) {
  for (const bool iw : {false, true}) {
    const std::string out = tmp_.file(iw ? "iw.csv" : "scores.csv");
    std::vector<std::string> args = {"score", last(), "--threads", "1", "--out", out};
    if (iw) args.insert(args.end(), {"--iw", "5"});
    const RunResult r = vae_run(args);
    ASSERT_EQ(r.code, 0) << describe(args, r);
    const auto rows = split_lines(read_bytes(out));
    ASSERT_EQ(rows.size(), static_cast<size_t>(kTestN) + 1);
    EXPECT_EQ(rows[0], std::string("index,label,score,neg_elbo,recon_nll,kl,mse") +
                           (iw ? ",neg_log_lik_iw" : "") + ",out_of_range");
    for (size_t i = 1; i < rows.size(); ++i) {
      std::vector<double> v;
      std::stringstream ss(rows[i]);
      for (std::string f; std::getline(ss, f, ',');) v.push_back(std::stod(f));
      ASSERT_EQ(v.size(), iw ? 9u : 8u) << rows[i];
      EXPECT_EQ(v.back(), 0) << rows[i];  // 8-bit images never leave 0..255
      EXPECT_EQ(v[0], static_cast<double>(i - 1));
      EXPECT_NEAR(v[3], v[4] + v[5], 1e-4);                      // neg_elbo = recon + kl
      EXPECT_EQ(v[2], iw ? v[7] : v[3]);                          // the score column
      for (double x : v) EXPECT_TRUE(std::isfinite(x)) << rows[i];
    }
  }
  expect_clean_failure({"score", last(), "--out", tmp_.file("s.txt")}, 2, "--out",
                       {tmp_.file("s.txt")}, tmp_.path());
  expect_clean_failure({"score", last(), "--iw", "-1", "--out", tmp_.file("s.csv")}, 2, "--iw",
                       {tmp_.file("s.csv")}, tmp_.path());
  expect_clean_failure({"eval", last(), "--iw", "-3", "--out", tmp_.file("e.json")}, 2, "--iw",
                       {tmp_.file("e.json")}, tmp_.path());
}

// ---------------------------------------------------------------------------------------------
// 3. sample, reconstruct, encode, decode, info

TEST_F(Cli, SampleWritesGrid) {
  const std::string out = tmp_.file("x.png");
  const std::vector<std::string> args = {"sample", last(), "-n",        "10",
                                         "--out",  out,    "--threads", "1"};
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_EQ(r.err, "");
  // 10 tiles, 8 per row: 2 rows; 8*6 + 9*2 = 66 wide, 2*6 + 3*2 = 18 high.
  const vae::Image img = vae::read_png(out);
  EXPECT_EQ(img.width, 66);
  EXPECT_EQ(img.height, 18);
  EXPECT_GT(pixel_variance(img), 0);
}

TEST_F(Cli, ReconstructWritesOriginalsAboveReconstructions) {
  const std::string out = tmp_.file("r.png");
  const std::vector<std::string> args = {"reconstruct", last(), "-n",        "4",
                                         "--out",       out,    "--threads", "1"};
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_EQ(r.err, "");
  // 4 originals in one row above their 4 reconstructions: 4*6 + 5*2 = 34 by 2*6 + 3*2 = 18.
  const vae::Image img = vae::read_png(out);
  EXPECT_EQ(img.width, 34);
  EXPECT_EQ(img.height, 18);
  EXPECT_GT(pixel_variance(img), 0);
}

TEST_F(Cli, EncodeThenDecode) {
  // Default: (N, 2, Z) posterior parameters [mu, logvar].
  const std::string pairs = tmp_.file("z.npy");
  std::vector<std::string> args = {"encode", last(), "--out", pairs, "--threads", "1"};
  RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const vae::NpyArray z2 = vae::read_npy(pairs);
  EXPECT_EQ(z2.shape, (std::vector<int64_t>{kTestN, 2, kLatent}));
  for (float v : z2.data) EXPECT_TRUE(std::isfinite(v));

  // --sample: (N, Z) draws.
  const std::string draws = tmp_.file("zs.npy");
  args = {"encode", last(), "--sample", "--out", draws, "--threads", "1"};
  r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const vae::NpyArray zs = vae::read_npy(draws);
  EXPECT_EQ(zs.shape, (std::vector<int64_t>{kTestN, kLatent}));

  // Decoding either gives (N, D) means in [0, 1]; decoding the pairs uses mu.
  for (const std::string& in : {pairs, draws}) {
    const std::string x = tmp_.file("x_" + fs::path(in).stem().string() + ".npy");
    args = {"decode", last(), in, "--out", x, "--threads", "1"};
    r = vae_run(args);
    ASSERT_EQ(r.code, 0) << describe(args, r);
    const vae::NpyArray xs = vae::read_npy(x);
    EXPECT_EQ(xs.shape, (std::vector<int64_t>{kTestN, kD}));
    for (float v : xs.data) EXPECT_TRUE(v >= 0.0f && v <= 1.0f) << v;
  }

  // To a picture: 16 tiles, 8 per row, 66 by 2*6 + 3*2 = 18.
  const std::string png = tmp_.file("x.png");
  args = {"decode", last(), pairs, "--out", png, "--threads", "1"};
  r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const vae::Image img = vae::read_png(png);
  EXPECT_EQ(img.width, 66);
  EXPECT_EQ(img.height, 18);
  EXPECT_EQ(temp_files_under(tmp_.path()), std::vector<std::string>{});
}

TEST_F(Cli, InfoPrintsParameterCount) {
  const std::vector<std::string> args = {"info", last()};
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_EQ(r.err, "");
  const vae::Checkpoint ckpt = vae::load_checkpoint(last());
  const size_t expected = vae::param_count(ckpt.model);
  // Encoder 36*8+8, heads 2*(8*2+2), decoder 2*8+8 and 8*36+36.
  EXPECT_EQ(expected, 680u);
  EXPECT_EQ(vae::param_count(tiny_config()), expected);
  bool found = false;
  for (const std::string& line : split_lines(r.out)) {
    std::istringstream in(line);
    std::string key;
    size_t value = 0;
    if (in >> key && key == "parameters" && in >> value) {
      found = true;
      EXPECT_EQ(value, expected) << line;
    }
  }
  EXPECT_TRUE(found) << r.out;
}

// --json: one object a program can read, holding what the checkpoint says.
TEST_F(Cli, InfoJsonHoldsTheCheckpoint) {
  const std::vector<std::string> args = {"info", last(), "--json"};
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_EQ(r.err, "");
  const auto j = nlohmann::json::parse(r.out);
  const vae::Checkpoint ckpt = vae::load_checkpoint(last());
  EXPECT_EQ(j.at("checkpoint"), last());
  EXPECT_EQ(j.at("parameters").get<size_t>(), 680u);
  EXPECT_EQ(j.at("model").dump(), nlohmann::json::parse(ckpt.model.to_json()).dump());
  EXPECT_EQ(j.at("train_options").at("seed"), 7);
  EXPECT_EQ(j.at("train_state").at("epoch"), 2);
  EXPECT_EQ(j.at("optimizer_state"), true);
  ASSERT_EQ(j.at("tensors").size(), vae::param_table(ckpt.model).size());
  EXPECT_EQ(j.at("tensors")[0].at("name"), "encoder.0.weight");
  EXPECT_EQ(j.at("tensors")[0].at("shape"), (std::vector<int64_t>{kHidden, kD}));
}

// A CSV's class names (';'-separated, sniffed) are stored and shown by name: info, score; other
// data are numbered by those names.
TEST_F(Cli, CsvClassNamesAreStoredAndShown) {
  std::string table = "a;b;kind\n";
  for (int i = 0; i < 40; ++i)
    table += std::to_string(i % 5) + ";" + std::to_string(i % 3) + ";" +
             (i % 2 ? "odd, really" : "even") + "\n";
  write_bytes(tmp_.file("t.csv"), table);
  const std::string run = tmp_.file("run");
  std::vector<std::string> args = {"train", "--data", tmp_.file("t.csv"), "--label-column", "kind",
                                   "--out", run, "--hidden", "4", "--latent", "2", "--epochs",
                                   "1", "--threads", "1"};
  RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const vae::Checkpoint ckpt = vae::load_checkpoint(run + "/last.safetensors");
  EXPECT_EQ(ckpt.class_names, (std::vector<std::string>{"even", "odd, really"}));
  args = {"info", run, "--json"};
  r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_EQ(nlohmann::json::parse(r.out).at("class_names"),
            (std::vector<std::string>{"even", "odd, really"}));
  r = vae_run({"info", run});
  EXPECT_NE(r.out.find("classes      2: 0 even, 1 odd, really"), std::string::npos) << r.out;
  args = {"score", run, "--out", tmp_.file("s.csv"), "--threads", "1"};
  r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const std::vector<std::string> rows = split_lines(read_bytes(tmp_.file("s.csv")));
  ASSERT_GE(rows.size(), 2u);
  EXPECT_EQ(rows[0].rfind("index,label,class,score,", 0), 0u) << rows[0];
  for (size_t i = 1; i < rows.size(); ++i) {
    const bool odd = rows[i].find(",1,\"odd, really\",") != std::string::npos;
    const bool even = rows[i].find(",0,even,") != std::string::npos;
    EXPECT_TRUE(odd != even) << rows[i];
  }
  // Other data (read with the run's CSV options) naming only the second class, which alone they
  // would number 0, keep the run's numbering; a class the run never saw is named.
  write_bytes(tmp_.file("odd.csv"), "a;b;kind\n1;1;odd, really\n3;0;odd, really\n");
  args = {"score", run, "--data", tmp_.file("odd.csv"), "--out", tmp_.file("odd_scores.csv"),
          "--threads", "1"};
  r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const std::vector<std::string> odd_rows = split_lines(read_bytes(tmp_.file("odd_scores.csv")));
  ASSERT_EQ(odd_rows.size(), 3u);
  for (size_t i = 1; i < odd_rows.size(); ++i)
    EXPECT_NE(odd_rows[i].find(",1,\"odd, really\","), std::string::npos) << odd_rows[i];
  write_bytes(tmp_.file("new.csv"), "a;b;kind\n1;1;prime\n");
  expect_clean_failure({"score", run, "--data", tmp_.file("new.csv"), "--threads", "1"},
                       1, tmp_.file("new.csv") + ": class 'prime' is not one of the training "
                       "data's classes (even, odd, really)", {}, tmp_.path());
}

// A run folder stands for its best checkpoint; a folder with none is named in one line.
TEST_F(Cli, RunFolderStandsForItsBestCheckpoint) {
  const std::vector<std::string> by_folder = {"info", run_};
  const RunResult a = vae_run(by_folder);
  ASSERT_EQ(a.code, 0) << describe(by_folder, a);
  const RunResult b = vae_run({"info", run_ + "/best.safetensors"});
  ASSERT_EQ(b.code, 0);
  EXPECT_EQ(a.out, b.out);
  vae_test::TempDir empty;
  // A file the command line names that is not there is exit 1 (README, "Exit codes").
  expect_clean_failure({"info", empty.path()}, 1, empty.path() + ": a folder with neither",
                       {}, tmp_.path());
}

// ---------------------------------------------------------------------------------------------
// 4. --resume

TEST_F(Cli, ResumeMatchesUninterruptedRun) {
  const std::string straight = tmp_.file("straight"), split = tmp_.file("split");
  auto args = tiny_train_args(data_, straight, 2);
  RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  args = tiny_train_args(data_, split, 1);
  r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  args = {"train", "--resume", split + "/last.safetensors", "--epochs", "2", "--threads", "1"};
  r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_EQ(r.err, "");

  const vae::Checkpoint a = vae::load_checkpoint(straight + "/last.safetensors");
  const vae::Checkpoint b = vae::load_checkpoint(split + "/last.safetensors");
  EXPECT_TRUE(same_bits(a.params, b.params));
  EXPECT_TRUE(same_bits(a.adam_m, b.adam_m));
  EXPECT_TRUE(same_bits(a.adam_v, b.adam_v));
  EXPECT_FALSE(a.adam_m.empty());
  EXPECT_EQ(a.adam_step, b.adam_step);
  EXPECT_EQ(a.state.step, b.state.step);
  EXPECT_EQ(a.state.step, 2 * kTrainN / 16);
  EXPECT_EQ(a.state.epoch, 2);
  EXPECT_EQ(b.state.epoch, 2);
  EXPECT_EQ(a.state.rng, b.state.rng);

  std::vector<int> epochs;
  for (const std::string& line : split_lines(read_bytes(split + "/metrics.jsonl")))
    epochs.push_back(nlohmann::json::parse(line).at("epoch").get<int>());
  EXPECT_EQ(epochs, (std::vector<int>{1, 2}));
}

// ---------------------------------------------------------------------------------------------
// 5. An existing run is not overwritten by accident

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST_F(Cli, OverwriteLeavesNothingOfThePreviousRun) {
  // An image run writes only files of the list --overwrite clears.
  const std::string run = tmp_.file("run");
  auto args = with_option(tiny_train_args(data_, run, 1), "--save-every", "1");
  RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  for (const std::string& name : files_in(run))
    EXPECT_TRUE(vae::is_run_file(name))
        << name << " is written into a run folder but --overwrite would not remove it";
  ASSERT_TRUE(vae_test::exists(run + "/samples.png"));
  ASSERT_TRUE(vae_test::exists(run + "/epoch-0001.safetensors"));
  // A table run over it, with --overwrite: no picture of the image run is left; a file of the
  // user's own stays.
  vae_test::write_bytes(run + "/notes.txt", "mine");
  std::string table = "a,b,c\n";
  for (int i = 0; i < 40; ++i)
    table += std::to_string(i % 5) + "," + std::to_string(i % 3) + "," + std::to_string(i % 7) + "\n";
  vae_test::write_bytes(tmp_.file("t.csv"), table);
  args = {"train", "--data", tmp_.file("t.csv"), "--out", run, "--overwrite", "--hidden", "4",
          "--latent", "2", "--epochs", "1", "--threads", "1"};
  r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  for (const char* picture :
       {"samples.png", "reconstructions.png", "traversals.png", "epoch-0001.safetensors"})
    EXPECT_FALSE(vae_test::exists(run + "/" + picture)) << picture << " of the previous run";
  EXPECT_EQ(read_bytes(run + "/notes.txt"), "mine");
  EXPECT_EQ(vae::load_checkpoint(run + "/last.safetensors").model.input_dim, 3);
}

// --save-every N keeps epoch N, 2N, ...: the state the run had then, as a run of N epochs ends.
TEST_F(Cli, SaveEveryKeepsTheCheckpointOfEveryNthEpoch) {
  const std::string run = tmp_.file("run");
  const auto args = with_option(tiny_train_args(data_, run, 3), "--save-every", "2");
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_FALSE(vae_test::exists(run + "/epoch-0001.safetensors"));
  EXPECT_FALSE(vae_test::exists(run + "/epoch-0003.safetensors"));
  ASSERT_TRUE(vae_test::exists(run + "/epoch-0002.safetensors"));
  const vae::Checkpoint kept = vae::load_checkpoint(run + "/epoch-0002.safetensors");
  const vae::Checkpoint two = vae::load_checkpoint(last());  // the shared run of 2 epochs
  EXPECT_EQ(kept.state.epoch, 2);
  EXPECT_TRUE(same_bits(kept.params, two.params));
  EXPECT_TRUE(same_bits(kept.adam_v, two.adam_v));
  EXPECT_EQ(vae::epoch_checkpoint_name(12345), "epoch-12345.safetensors");
  EXPECT_TRUE(vae::is_run_file("epoch-12345.safetensors"));
  EXPECT_FALSE(vae::is_run_file("epoch-12345.safetensors.bak"));
}

TEST_F(Cli, RefusesToOverwriteExistingRun) {
  const std::string run = tmp_.file("run");
  auto args = tiny_train_args(data_, run, 1);
  RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const std::string ckpt_before = read_bytes(run + "/last.safetensors");
  const std::string metrics_before = read_bytes(run + "/metrics.jsonl");

  r = vae_run(args);
  EXPECT_EQ(r.code, 1) << describe(args, r);
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("--overwrite"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(run), std::string::npos) << r.err;
  EXPECT_EQ(read_bytes(run + "/last.safetensors"), ckpt_before);
  EXPECT_EQ(read_bytes(run + "/metrics.jsonl"), metrics_before);
  EXPECT_EQ(temp_files_under(tmp_.path()), std::vector<std::string>{});

  // With --overwrite the run starts over: one epoch again, not two.
  args.push_back("--overwrite");
  r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_EQ(split_lines(read_bytes(run + "/metrics.jsonl")).size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// 6. Bad input

TEST_F(Cli, UsageErrorsExitTwo) {
  const std::string run = tmp_.file("run");
  const std::vector<std::string> base = tiny_train_args(data_, run, 1);
  struct Case {
    std::vector<std::string> args;
    std::string names;  // what stderr must say: the option, and for a bad value the rule broken
  };
  auto append = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  const std::vector<Case> cases = {
      {append({"--bogus"}), "--bogus"},
      {with_option(base, "--latent", "0"), "latent: must be"},
      {with_option(base, "--epochs", "-1"), "--epochs: must be >= 0"},
      {append({"--activation", "foo"}), "--activation: unknown activation 'foo'"},
      {with_option(base, "--batch-size", "0"), "--batch-size: must be"},
      {append({"--binarize", "maybe"}), "--binarize: must be"},
      {with_option(base, "--threads", "-2"), "--threads: must be >= 0"},
      {with_option(base, "--hidden", "0"), "hidden: each width must be"},
      {with_option(base, "--latent", "x"), "--latent"},
      {{"train", "--resume", last(), "--latent", "3", "--out", run},
       "--latent: cannot be combined with --resume"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.names);
    expect_clean_failure(c.args, 2, c.names, {run}, tmp_.path());
  }

  // A missing required positional, for each command that takes a checkpoint.
  for (const char* cmd : {"eval", "sample", "reconstruct", "encode", "info"}) {
    SCOPED_TRACE(cmd);
    expect_clean_failure({cmd}, 2, "checkpoint", {}, tmp_.path());
  }
  const std::string out = tmp_.file("x.npy");
  expect_clean_failure({"decode", last(), "--out", out}, 2, "input", {out}, tmp_.path());
  // Counts out of range: a negative seed (not 2^64 − 1), thousands of threads.
  expect_clean_failure({"sample", last(), "--seed", "-1", "--out", tmp_.file("s.png")}, 2,
                       "--seed", {tmp_.file("s.png")}, tmp_.path());
  expect_clean_failure({"sample", last(), "--threads", "100000", "--out", tmp_.file("s.png")}, 2,
                       "--threads: at most", {tmp_.file("s.png")}, tmp_.path());
  // Splits that keep no test rows are refused before any training and before a folder is made.
  {
    std::string table = "a,b\n";
    for (int i = 0; i < 30; ++i) table += std::to_string(i % 4) + "," + std::to_string(i % 3) + "\n";
    vae_test::write_bytes(tmp_.file("s.csv"), table);
    expect_clean_failure({"train", "--data", tmp_.file("s.csv"), "--test-split", "0", "--out",
                          tmp_.file("rs")},
                         2, "--test-split: keeps none of the 30 rows", {tmp_.file("rs")},
                         tmp_.path());
  }
  // A new run of no epochs is refused before it makes a folder.
  expect_clean_failure({"train", "--data", data_, "--epochs", "0", "--out", tmp_.file("r0")}, 2,
                       "--epochs: a new run needs at least 1 epoch", {tmp_.file("r0")},
                       tmp_.path());
  // A 100 kB value is not echoed whole: the one line stays short.
  {
    const std::vector<std::string> args = {"train", "--kl-warmup", std::string(100000, 'x'),
                                            "--out", tmp_.file("r")};
    const RunResult r = vae_run(args);
    EXPECT_EQ(r.code, 2) << describe(args, r);
    EXPECT_EQ(count_lines(r.err), 1u);
    EXPECT_LT(r.err.size(), 500u);
    EXPECT_NE(r.err.find("--kl-warmup"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("characters left out"), std::string::npos) << r.err;
  }
  // A subcommand is required; a word that names none is named, with the nearest command.
  expect_clean_failure({}, 2, "vae", {}, tmp_.path());
  expect_clean_failure({"trian"}, 2, "'trian' is not a vae command; did you mean 'train'?", {},
                       tmp_.path());
  expect_clean_failure({"evaluate", last()}, 2, "'evaluate' is not a vae command", {},
                       tmp_.path());
  // Output names of the wrong kind.
  expect_clean_failure({"sample", last(), "--out", tmp_.file("x.jpg")}, 2, "--out",
                       {tmp_.file("x.jpg")}, tmp_.path());
  expect_clean_failure({"sample", last(), "-n", "0", "--out", tmp_.file("x.png")}, 2, "-n",
                       {tmp_.file("x.png")}, tmp_.path());
}

// A value the library refuses is named by its flag, once, on one line, with the library's
// problem text: exit 2, and no run folder.
TEST_F(Cli, RefusedValuesNameTheFlagOnce) {
  const std::string run = tmp_.file("run");
  const std::vector<std::string> base = tiny_train_args(data_, run, 1);
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {with_option(base, "--activation", "foo"),
       "vae: --activation: unknown activation 'foo' (choose relu, tanh, leaky_relu, elu)\n"},
      {with_option(base, "--batch-size", "0"), "vae: --batch-size: must be in 1..65536, got 0\n"},
      {with_option(base, "--kl-warmup", "linear:x"),
       "vae: --kl-warmup: expected none, linear:EPOCHS or cyclical:PERIOD with a positive "
       "number, got 'linear:x'\n"},
      {with_option(base, "--scale", "bogus"),
       "vae: --scale: must be 'auto', '01', 'standardize' or 'none', got 'bogus'\n"},
      {with_option(base, "--lr", "-1"), "vae: --lr: must be a positive number\n"},
  };
  for (const auto& [args, message] : cases) {
    const RunResult r = vae_run(args);
    EXPECT_EQ(r.code, 2) << describe(args, r);
    EXPECT_EQ(r.err, message) << describe(args, r);
    EXPECT_EQ(r.out, "");
    EXPECT_FALSE(exists(run)) << describe(args, r);
  }
  // A resumed run keeps its checkpoint's options: --lr is refused by name.
  expect_clean_failure({"train", "--resume", last(), "--lr", "0.01", "--out", run}, 2,
                       "--lr: cannot be combined with --resume", {run}, tmp_.path());
}

TEST_F(Cli, BadDataFailsCleanly) {
  const std::string run = tmp_.file("run"), json_out = tmp_.file("eval.json");
  // Each bad folder is tried with train (whose run folder must not appear) and with eval --data
  // (whose --out must not appear).
  auto check = [&](const std::string& data, const std::string& names) {
    SCOPED_TRACE(data + " -> " + names);
    expect_clean_failure(tiny_train_args(data, run, 1), 1, names, {run}, tmp_.path());
    expect_clean_failure({"eval", last(), "--data", data, "--out", json_out}, 1, names, {json_out},
                         tmp_.path());
  };

  check(tmp_.file("no_such_folder"), tmp_.file("no_such_folder"));

  const std::string bad_magic = write_data(tmp_.file("bad_magic"));
  std::string bytes = read_bytes(bad_magic + "/train-images-idx3-ubyte");
  bytes[0] = 0x12;
  bytes[1] = 0x34;
  write_bytes(bad_magic + "/train-images-idx3-ubyte", bytes);
  check(bad_magic, bad_magic + "/train-images-idx3-ubyte");

  const std::string missing = write_data(tmp_.file("missing_file"));
  fs::remove(missing + "/t10k-labels-idx1-ubyte");
  check(missing, "t10k-labels-idx1-ubyte");

  const std::string truncated_gz = write_data(tmp_.file("truncated_gz"));
  fs::remove(truncated_gz + "/train-images-idx3-ubyte");
  const std::string gz_path = truncated_gz + "/train-images-idx3-ubyte.gz";
  write_gz(gz_path, train_images());
  const std::string gz = read_bytes(gz_path);
  write_bytes(gz_path, gz.substr(0, gz.size() / 2));
  check(truncated_gz, gz_path);

  const std::string mismatch = write_data(tmp_.file("count_mismatch"));
  write_bytes(mismatch + "/train-labels-idx1-ubyte",
              idx_bytes(0x08, {kTrainN - 1}, label_payload(kTrainN - 1)));
  check(mismatch, mismatch + "/train-images-idx3-ubyte");

  // Float images (IDX type 0x0D) with one NaN: it would poison every gradient it touched.
  const std::string nan = write_data(tmp_.file("nan"));
  std::string payload;
  for (int i = 0; i < kTrainN * kD; ++i) {
    const float v = i == 5 * kD + 3 ? std::nanf("") : static_cast<float>(i % 7) / 7.0f;
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    put_be32(payload, bits);
  }
  write_bytes(nan + "/train-images-idx3-ubyte", idx_bytes(0x0D, {kTrainN, kSide, kSide}, payload));
  check(nan, nan + "/train-images-idx3-ubyte");
}

TEST_F(Cli, TruncatedCheckpointFailsCleanly) {
  const std::string whole = read_bytes(last());
  ASSERT_GT(whole.size(), 200u);
  const std::string ckpt = tmp_.file("cut.safetensors");
  const std::string json_out = tmp_.file("eval.json"), png_out = tmp_.file("s.png"),
                    npy_out = tmp_.file("z.npy");
  for (size_t size :
       {size_t{0}, size_t{7}, size_t{8}, size_t{100}, whole.size() / 2, whole.size() - 1}) {
    SCOPED_TRACE("truncated to " + std::to_string(size) + " bytes");
    write_bytes(ckpt, whole.substr(0, size));
    expect_clean_failure({"eval", ckpt, "--out", json_out}, 1, ckpt, {json_out}, tmp_.path());
    expect_clean_failure({"info", ckpt}, 1, ckpt, {}, tmp_.path());
    expect_clean_failure({"sample", ckpt, "--out", png_out}, 1, ckpt, {png_out}, tmp_.path());
    expect_clean_failure({"encode", ckpt, "--out", npy_out}, 1, ckpt, {npy_out}, tmp_.path());
    const std::string run = tmp_.file("resumed");
    expect_clean_failure({"train", "--resume", ckpt, "--out", run}, 1, ckpt, {run}, tmp_.path());
  }
}

TEST_F(Cli, MangledCheckpointHeaderFailsCleanly) {
  std::string bytes = read_bytes(last());
  ASSERT_GT(bytes.size(), 16u);
  // Garbage in place of the JSON header, its length field left as it was.
  for (size_t i = 8; i < 40; ++i) bytes[i] = "}{not json at all"[i % 17];
  const std::string ckpt = tmp_.file("mangled.safetensors");
  write_bytes(ckpt, bytes);
  const std::string json_out = tmp_.file("eval.json"), png_out = tmp_.file("s.png");
  expect_clean_failure({"eval", ckpt, "--out", json_out}, 1, ckpt, {json_out}, tmp_.path());
  expect_clean_failure({"info", ckpt}, 1, ckpt, {}, tmp_.path());
  expect_clean_failure({"sample", ckpt, "--out", png_out}, 1, ckpt, {png_out}, tmp_.path());

  // A header length that points far past the end of the file.
  bytes = read_bytes(last());
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(i < 4 ? 0xff : 0x00);
  write_bytes(ckpt, bytes);
  expect_clean_failure({"info", ckpt}, 1, ckpt, {}, tmp_.path());
  expect_clean_failure({"eval", ckpt, "--out", json_out}, 1, ckpt, {json_out}, tmp_.path());
}

TEST_F(Cli, MissingOutputFolderFailsCleanly) {
  const std::string gone = tmp_.file("nonexistent/dir");
  const std::string png = gone + "/x.png", npy = gone + "/x.npy", json = gone + "/e.json";
  // The path the command is most likely to meet in the wild, outside any scratch folder.
  if (!exists("/nonexistent"))
    expect_clean_failure({"sample", last(), "--out", "/nonexistent/dir/x.png"}, 1, "--out",
                         {"/nonexistent"}, tmp_.path());
  expect_clean_failure({"sample", last(), "--out", png}, 1, "--out", {png}, tmp_.path());
  expect_clean_failure({"reconstruct", last(), "--out", png}, 1, "--out", {png}, tmp_.path());
  expect_clean_failure({"encode", last(), "--out", npy}, 1, "--out", {npy}, tmp_.path());
  expect_clean_failure({"eval", last(), "--out", json}, 1, "--out", {json}, tmp_.path());

  const std::string z = tmp_.file("z.npy");
  const std::vector<float> codes(3 * kLatent, 0.5f);
  vae::write_npy(z, codes.data(), {3, kLatent});
  expect_clean_failure({"decode", last(), z, "--out", npy}, 1, "--out", {npy}, tmp_.path());
  EXPECT_FALSE(exists(tmp_.file("nonexistent")));
}

TEST_F(Cli, DecodeRejectsWrongLatentWidth) {
  const std::string z = tmp_.file("wide.npy"), out = tmp_.file("x.npy"), png = tmp_.file("x.png");
  const std::vector<float> codes(3 * (kLatent + 3), 0.1f);
  vae::write_npy(z, codes.data(), {3, kLatent + 3});
  expect_clean_failure({"decode", last(), z, "--out", out}, 1, z, {out}, tmp_.path());
  expect_clean_failure({"decode", last(), z, "--out", png}, 1, z, {png}, tmp_.path());
  // (N, 2, Z') with the wrong Z' too.
  vae::write_npy(z, codes.data(), {1, 3, kLatent + 3});
  expect_clean_failure({"decode", last(), z, "--out", out}, 1, z, {out}, tmp_.path());
  // A file that is not .npy at all.
  write_bytes(z, "not an array");
  expect_clean_failure({"decode", last(), z, "--out", out}, 1, z, {out}, tmp_.path());
}

// ---------------------------------------------------------------------------------------------
// 7. The embedding example

TEST_F(Cli, EmbedExampleRunsOnCheckpoint) {
  const std::vector<std::string> args = {run_ + "/best.safetensors"};
  const RunResult r = run_binary(VAE_EXAMPLE_BINARY, args);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "");
  const std::vector<std::string> lines = split_lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(lines[i].rfind("example " + std::to_string(i) + ":", 0), 0u) << lines[i];
  EXPECT_EQ(r.out.find("nan"), std::string::npos) << r.out;

  // A bad checkpoint: exit 1, one line.
  const RunResult bad = run_binary(VAE_EXAMPLE_BINARY, {tmp_.file("missing.safetensors")});
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(count_lines(bad.err), 1u) << bad.err;
}

// ---------------------------------------------------------------------------------------------
// 8. Help

TEST(CliHelp, ListsCommandsAndEveryTrainOptionWithDefaults) {
  const RunResult top = vae_run({"--help"});
  ASSERT_EQ(top.code, 0) << top.out << top.err;
  for (const char* cmd : {"train", "eval", "sample", "reconstruct", "encode", "decode", "info"})
    EXPECT_NE(top.out.find(std::string("\n  ") + cmd + " "), std::string::npos) << cmd << "\n"
                                                                                << top.out;

  const RunResult train = vae_run({"train", "--help"});
  ASSERT_EQ(train.code, 0) << train.out << train.err;
  const std::vector<std::string> lines = split_lines(train.out);
  // The line that documents `option`, or "" when there is none.
  auto line_of = [&](const std::string& option) -> std::string {
    for (const std::string& l : lines)
      if (l.rfind("  " + option + " ", 0) == 0) return l;
    return "";
  };
  // Options with a default value show it as "=value".
  const std::vector<std::pair<std::string, std::string>> with_defaults = {
      {"--data", "=fashion-mnist"}, {"--hidden", "=400"}, {"--latent", "=20"},
      {"--activation", "=relu"},    {"--epochs", "=10"},    {"--batch-size", "=128"},
      {"--lr", "=0.001"},           {"--seed", "=1"},       {"--binarize", "=none"},
      {"--threads", "=0"},          {"--arch", "=mlp"},     {"--objective", "=elbo"},
      {"--k", "=1"},                {"--sigma", "=1"},      {"--clip-grad", "=0"},
      {"--max-recoveries", "=5"}};
  for (const auto& [option, shown] : with_defaults) {
    const std::string line = line_of(option);
    EXPECT_NE(line, "") << option << " missing from\n" << train.out;
    EXPECT_NE(line.find(shown), std::string::npos) << option << ": " << line;
  }
  // --out defaults to a dated folder, stated in its help text; --resume has no default.
  EXPECT_NE(line_of("--out").find("default: runs/"), std::string::npos) << train.out;
  EXPECT_NE(line_of("--resume"), "") << train.out;
  EXPECT_NE(line_of("--overwrite"), "") << train.out;
}

}  // namespace
}  // namespace vae_cli_test
