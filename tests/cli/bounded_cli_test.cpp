// Bounded resources: a reader checks a file's header before its body and keeps memory in
// proportion to what it keeps, so a 1 GB file with a bad header (a sparse CSV of zeros, a .npy
// with a bad magic, a checkpoint padded with garbage) fails at once with a small peak RSS; and
// model sizes are capped with a message giving the number. The big files are sparse (truncate):
// they cost no disk. Peak memory is the child's ru_maxrss from wait4, bounded loosely (a quarter
// of the file's size); no wall-clock bar.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "test_util.h"

namespace vae_cli_test {
namespace {

using vae_test::TempDir;

constexpr off_t kBig = off_t{1} << 30;  // 1 GiB, sparse

struct Measured {
  RunResult r;
  long max_rss_kb = 0;
};

// Runs `vae args...` and measures its peak resident set.
Measured run_measured(const std::vector<std::string>& args) {
  TempDir capture;
  Measured m;
  const pid_t pid = spawn_binary(VAE_BINARY, args, {}, capture.file("out"), capture.file("err"));
  if (pid < 0) return m;
  int status = 0;
  rusage ru = {};
  while (::wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  m.r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  m.r.out = vae_test::read_bytes(capture.file("out"));
  m.r.err = vae_test::read_bytes(capture.file("err"));
  m.max_rss_kb = ru.ru_maxrss;
  return m;
}

// `head` followed by zeros up to kBig bytes, as a sparse file.
std::string sparse_file(const TempDir& tmp, const std::string& name, const std::string& head) {
  const std::string path = tmp.file(name);
  vae_test::write_bytes(path, head);
  std::filesystem::resize_file(path, static_cast<uintmax_t>(kBig));
  return path;
}

void expect_fast_failure(const std::vector<std::string>& args, int code, const std::string& names) {
  const Measured m = run_measured(args);
  const std::string what = describe(args, m.r) + "peak RSS " + std::to_string(m.max_rss_kb) + " kB";
  EXPECT_EQ(m.r.code, code) << what;
  EXPECT_EQ(count_lines(m.r.err), 1u) << what;
  EXPECT_NE(m.r.err.find(names), std::string::npos) << what;
  EXPECT_LT(m.max_rss_kb, kBig / 4 / 1024) << what;
}

TEST(BoundedCli, ABigFileWithABadHeaderFailsWithoutReadingItWhole) {
  TempDir tmp;
  const std::string csv = sparse_file(tmp, "big.csv", "");
  expect_fast_failure({"train", "--data", csv, "--out", tmp.file("run1"), "--threads", "1"}, 1,
                      csv + ": not a text file (a NUL byte at offset 0");
  const std::string npy = sparse_file(tmp, "big.npy", "NOT NUMPY");
  expect_fast_failure({"train", "--data", npy, "--out", tmp.file("run2"), "--threads", "1"}, 1,
                      npy + ":");
  EXPECT_FALSE(vae_test::exists(tmp.file("run1")));
  EXPECT_FALSE(vae_test::exists(tmp.file("run2")));
}

TEST(BoundedCli, ACheckpointPaddedWithGarbageFailsWithoutReadingItWhole) {
  TempDir tmp;
  const std::string data = write_data(tmp.file("data")), run = tmp.file("run");
  const RunResult r = vae_run({"train", "--data", data, "--out", run, "--hidden", "8", "--latent",
                               "2", "--epochs", "1", "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string padded = run + "/last.safetensors";
  std::filesystem::resize_file(padded, static_cast<uintmax_t>(kBig));
  expect_fast_failure({"info", padded}, 1, padded + ":");
}

TEST(BoundedCli, ModelDepthAndSizeAreCappedWithTheNumber) {
  TempDir tmp;
  const std::string data = write_data(tmp.file("data"));
  std::string deep = "8";
  for (int i = 1; i < 20001; ++i) deep += ",8";
  expect_fast_failure({"train", "--data", data, "--out", tmp.file("run"), "--hidden", deep}, 2,
                      "--hidden: at most 100 layers, got 20001");
  std::string wide = "65536";
  for (int i = 1; i < 40; ++i) wide += ",65536";  // 40 layers of 65536: 1.7e11 parameters
  expect_fast_failure({"train", "--data", data, "--out", tmp.file("run"), "--hidden", wide}, 2,
                      " parameters; at most 137438953472");
  EXPECT_FALSE(vae_test::exists(tmp.file("run")));
}

}  // namespace
}  // namespace vae_cli_test
