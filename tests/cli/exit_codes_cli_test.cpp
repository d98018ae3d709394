// The exit-code rule (README, "Exit codes") as a table: 2 when the command line is wrong whatever
// the files hold, 1 when it is fine but a file, the data or the run failed. Each case is one
// error line naming the option or file, nothing on stdout, no output file left.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "test_util.h"
#include "vae/npy.h"

namespace vae_cli_test {
namespace {

using vae_test::TempDir;

struct Case {
  std::vector<std::string> args;
  int code;
  std::string names;  // what the error line must hold
};

TEST(ExitCodesCli, EachCaseGetsTheCodeOfTheRule) {
  TempDir tmp;
  const std::string data = write_data(tmp.file("data")), run = tmp.file("run");
  const RunResult trained = vae_run({"train", "--data", data, "--out", run, "--hidden", "8",
                                     "--latent", "2", "--epochs", "1", "--threads", "1"});
  ASSERT_EQ(trained.code, 0) << trained.err;
  std::string csv = "a,b,c\n";
  for (int i = 0; i < 40; ++i)
    csv += std::to_string(i % 7 / 7.0) + "," + std::to_string(i % 3 / 3.0) + ",0.5\n";
  vae_test::write_bytes(tmp.file("t.csv"), csv);
  const std::string table = tmp.file("table");
  const RunResult trained_table = vae_run({"train", "--data", tmp.file("t.csv"), "--out", table,
                                           "--hidden", "4", "--latent", "2", "--epochs", "1",
                                           "--threads", "1"});
  ASSERT_EQ(trained_table.code, 0) << trained_table.err;
  std::filesystem::create_directory(tmp.file("empty"));
  std::filesystem::create_directory(tmp.file("folder.json"));
  const std::string ckpt = run + "/last.safetensors", out = tmp.file("out.png");
  const std::vector<float> codes(10001 * 2, 0.5f);  // (10001, Z): one more than a picture holds
  vae::write_npy(tmp.file("many.npy"), codes.data(), {10001, 2});

  const std::vector<Case> cases = {
      // 2: the command line is wrong.
      {{"trian"}, 2, "'trian' is not a vae command; did you mean 'train'?"},
      {{"train", "--data", data, "--epochs", "-1"}, 2, "--epochs: must be >= 0, got -1"},
      {{"train", "--data", data, "--epochs", "3", "--epochs", "4"}, 2,
       "--epochs: given 2 times; give it once"},
      // A field's message that names another field names that one's flag too.
      {{"train", "--data", data, "--patience", "3", "--val-split", "0"}, 2,
       "--patience: early stopping watches the validation loss; it needs a validation split "
       "(--val-split)"},
      {{"train", "--data", data, "--test-data", data, "--test-split", "0.2"}, 2,
       "--test-split: cannot be combined with a separate test source (--test-data)"},
      {{"eval", ckpt, "--iw", "abc"}, 2, "--iw: expected an integer, got 'abc'"},
      {{"eval", ckpt, "--iw", "99999999999999"}, 2, "--iw: expected an integer, got '99999999999999' (out of range)"},
      {{"eval", ckpt, "--iw", "-1"}, 2, "--iw: must be in 0..100000, got -1"},
      {{"sample", ckpt, "-n", "1e3", "--out", out}, 2, "-n: expected an integer, got '1e3'"},
      {{"sample", ckpt, "--out", out, "-n"}, 2, "-n: needs a value (an integer)"},
      {{"traverse", ckpt, "--range", "wide", "--out", out}, 2, "--range: expected a number, got 'wide'"},
      {{"sample", ckpt, "--seed", "-1", "--out", out}, 2, "--seed: expected an integer >= 0"},
      {{"sample", ckpt, "--label", "-2", "--out", out}, 2, "--label: must be >= 0, got -2"},
      {{"eval", ckpt, "--threads", "x"}, 2, "--threads: expected an integer, got 'x'"},
      {{"sample", ckpt, "--out", tmp.file("x.jpg")}, 2, "--out: must name a .png file"},
      {{"sample", table, "--out", out}, 2, "non-image data"},
      {{"decode", table, tmp.file("z.npy"), "--out", out}, 2, "non-image data"},
      {{"decode", ckpt, tmp.file("many.npy"), "--out", out}, 2,
       "a picture of 10001 images is too large (at most 10000 in one PNG); decode to .npy"},
      {{"sample", ckpt, "-n", "20000", "--out", out}, 2, "-n 20000: a picture of 20000 images"},
      // 1: the command line is fine, a file, the data or the run failed.
      {{"eval", tmp.file("missing.safetensors")}, 1, "missing.safetensors: cannot open"},
      {{"info", tmp.file("empty")}, 1, tmp.file("empty") + ": a folder with neither"},
      {{"eval", ckpt, "--threads", "1", "--out", tmp.file("folder.json")}, 1, "is a folder"},
      {{"eval", ckpt, "--threads", "1", "--out", tmp.file("nowhere/r.json")}, 1, "does not exist"},
      {{"eval", ckpt, "--threads", "1", "--data", tmp.file("missing.csv")}, 1, "missing.csv"},
      {{"decode", ckpt, tmp.file("missing.npy"), "--out", tmp.file("x.npy")}, 1, "missing.npy"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(describe(c.args, RunResult{}));
    expect_clean_failure(c.args, c.code, c.names, {out, tmp.file("x.npy")}, tmp.path());
  }
}

// $VAE_THREADS is the thread count of every command whose --threads is 0 (the default): a
// machine or a harness pins all commands with it (the suite runs with VAE_THREADS=2), an explicit
// --threads wins, and a value that is not a count is a usage error naming the variable.
TEST(ExitCodesCli, VaeThreadsSetsTheDefaultCountAndIsChecked) {
  TempDir tmp;
  const std::string data = write_data(tmp.file("data"));
  auto train = [&](const std::string& name, std::vector<std::string> extra,
                   const std::vector<std::string>& env) {
    std::vector<std::string> args = {"train", "--data", data, "--out", tmp.file(name), "--hidden",
                                     "8", "--latent", "2", "--epochs", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return vae_run(args, env);
  };
  const RunResult one = train("one", {}, {"VAE_THREADS=1"});
  ASSERT_EQ(one.code, 0) << one.err;
  EXPECT_NE(one.out.find(", 1 thread\n"), std::string::npos) << one.out;
  const RunResult three = train("three", {"--threads", "3"}, {"VAE_THREADS=1"});
  ASSERT_EQ(three.code, 0) << three.err;
  EXPECT_NE(three.out.find(", 3 threads\n"), std::string::npos) << three.out;
  for (const std::string bad : {"two", "-1", "99999999", "1.5"}) {
    const RunResult r = train("bad", {}, {"VAE_THREADS=" + bad});
    EXPECT_EQ(r.code, 2) << bad << ": " << r.err;
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("VAE_THREADS"), std::string::npos) << r.err;
    EXPECT_FALSE(vae_test::exists(tmp.file("bad") + "/final.json"));
  }
}

}  // namespace
}  // namespace vae_cli_test
