// Every output path of every command goes through one writer (io/fileio.h): regular files are
// replaced atomically, a symbolic link has its target replaced and stays a link, character
// devices, FIFOs and "-" (standard output) are written through, and a full device is one error
// line with exit 1. Devices are copies made in a temp folder (mknod, as root), so a regression
// cannot turn the system's /dev/null into a file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_util.h"
#include "test_util.h"

namespace vae_cli_test {
namespace {

using vae_test::read_bytes;
using vae_test::TempDir;

mode_t kind_of(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 ? (st.st_mode & S_IFMT) : 0;
}

// One trained tiny run shared by the tests of this file, and codes to decode.
class OutputPathsCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    const std::string data = write_data(dir_->file("data"));
    const std::vector<std::string> args = {"train", "--data", data, "--out", run(), "--hidden", "8",
                                           "--latent", "2", "--epochs", "1", "--batch-size", "16",
                                           "--threads", "1", "--seed", "3"};
    const RunResult r = vae_run(args);
    ASSERT_EQ(r.code, 0) << describe(args, r);
    const RunResult e = vae_run({"encode", run(), "--out", codes(), "--threads", "1"});
    ASSERT_EQ(e.code, 0) << e.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string run() { return dir_->file("run"); }
  static std::string codes() { return dir_->file("codes.npy"); }

  // Each command that writes --out, with the arguments it needs before --out.
  static std::vector<std::vector<std::string>> writers() {
    const std::string ckpt = run() + "/last.safetensors";
    return {{"eval", ckpt, "--threads", "1"},
            {"score", ckpt, "--threads", "1"},
            {"encode", ckpt, "--threads", "1"},
            {"decode", ckpt, codes(), "--threads", "1"},
            {"sample", ckpt, "-n", "4", "--threads", "1"},
            {"reconstruct", ckpt, "-n", "4", "--threads", "1"},
            {"latents", ckpt, "--threads", "1"},
            {"manifold", ckpt, "--size", "3", "--threads", "1"},
            {"interpolate", ckpt, "--steps", "3", "--threads", "1"},
            {"traverse", ckpt, "--steps", "3", "--threads", "1"},
            {"curves", run()}};
  }
  static std::vector<std::string> with_out(std::vector<std::string> args, const std::string& out) {
    args.push_back("--out");
    args.push_back(out);
    return args;
  }

  static TempDir* dir_;
};
TempDir* OutputPathsCli::dir_ = nullptr;

// A character device in `dir` with the numbers of /dev/null (1, 3) or /dev/full (1, 7), or ""
// where mknod is not allowed.
std::string device_copy(const TempDir& dir, const std::string& name, unsigned minor) {
  const std::string path = dir.file(name);
  return ::mknod(path.c_str(), S_IFCHR | 0666, makedev(1, minor)) == 0 ? path : "";
}

TEST_F(OutputPathsCli, EveryCommandWritesThroughToANullDevice) {
  TempDir tmp;
  const std::string null = device_copy(tmp, "null", 3);
  if (null.empty()) GTEST_SKIP() << "cannot make a device node (not root)";
  for (const auto& base : writers()) {
    const auto args = with_out(base, null);
    const RunResult r = vae_run(args);
    EXPECT_EQ(r.code, 0) << describe(args, r);
    EXPECT_EQ(kind_of(null), static_cast<mode_t>(S_IFCHR)) << describe(args, r);
  }
  EXPECT_EQ(temp_files_under(tmp.path()), std::vector<std::string>{});
}

TEST_F(OutputPathsCli, AFullDeviceIsOneErrorLineExitOneAndStaysADevice) {
  TempDir tmp;
  const std::string full = device_copy(tmp, "full", 7);
  if (full.empty()) GTEST_SKIP() << "cannot make a device node (not root)";
  for (const auto& base : writers()) {
    const auto args = with_out(base, full);
    const RunResult r = vae_run(args);
    EXPECT_EQ(r.code, 1) << describe(args, r);
    EXPECT_EQ(count_lines(r.err), 1u) << describe(args, r);
    EXPECT_NE(r.err.find(full + ": write failed (No space left on device)"), std::string::npos)
        << describe(args, r);
    EXPECT_EQ(kind_of(full), static_cast<mode_t>(S_IFCHR)) << describe(args, r);
  }
}

TEST_F(OutputPathsCli, ASymlinkHasItsTargetUpdatedAndIsKept) {
  TempDir tmp;
  for (const auto& base : writers()) {
    // The target keeps the extension the command writes; the link's name has it too.
    const std::string ext = base[0] == "eval" ? ".json" : base[0] == "score" ? ".csv"
                            : base[0] == "encode" || base[0] == "decode" ? ".npy"
                            : base[0] == "curves" ? ".svg" : ".png";
    const std::string target = tmp.file(base[0] + "-target" + ext);
    const std::string link = tmp.file(base[0] + "-link" + ext);
    vae_test::write_bytes(target, "old");
    ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
    const auto args = with_out(base, link);
    const RunResult r = vae_run(args);
    EXPECT_EQ(r.code, 0) << describe(args, r);
    EXPECT_EQ(kind_of(link), static_cast<mode_t>(S_IFLNK)) << describe(args, r);
    EXPECT_NE(read_bytes(target), "old") << describe(args, r);
    EXPECT_GT(read_bytes(target).size(), 10u) << describe(args, r);
  }
  EXPECT_EQ(temp_files_under(tmp.path()), std::vector<std::string>{});
}

TEST_F(OutputPathsCli, DashWritesTheDataToStdoutAndMessagesToStderr) {
  const std::string ckpt = run() + "/last.safetensors";
  const RunResult png = vae_run({"sample", ckpt, "-n", "4", "--threads", "1", "--out", "-"});
  ASSERT_EQ(png.code, 0) << png.err;
  EXPECT_EQ(png.out.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_NE(png.err.find("wrote 4 samples to -"), std::string::npos) << png.err;
  const RunResult json = vae_run({"eval", ckpt, "--threads", "1", "--out", "-"});
  ASSERT_EQ(json.code, 0) << json.err;
  // The JSON once (twice would not parse), and none of it on stderr.
  EXPECT_EQ(nlohmann::json::parse(json.out).at("examples"), 16);
  EXPECT_EQ(json.err.find('{'), std::string::npos) << json.err;
  const RunResult npy = vae_run({"encode", ckpt, "--threads", "1", "--out", "-"});
  ASSERT_EQ(npy.code, 0) << npy.err;
  EXPECT_EQ(npy.out.substr(0, 6), "\x93NUMPY");
}

TEST_F(OutputPathsCli, AFifoWithAReaderGetsTheOutputAndStaysAFifo) {
  TempDir tmp;
  const std::string fifo = tmp.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string got;
  std::thread reader([&] {
    const int fd = ::open(fifo.c_str(), O_RDONLY);  // waits for the writer
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
    ::close(fd);
  });
  // The reader is (or soon will be) waiting in open; a writer that finds none fails at once, so
  // try a few times.
  RunResult r;
  for (int attempt = 0; attempt < 50; ++attempt) {
    r = vae_run({"score", run() + "/last.safetensors", "--threads", "1", "--out", fifo});
    if (r.code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (r.code != 0) ::close(::open(fifo.c_str(), O_WRONLY));  // lets the reader end
  reader.join();
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(got.rfind("index,", 0), 0u) << got.substr(0, 100);
  EXPECT_EQ(count_lines(got), 17u);  // a header and 16 test rows
  EXPECT_EQ(kind_of(fifo), static_cast<mode_t>(S_IFIFO));
}

TEST_F(OutputPathsCli, AFolderOrAFifoNobodyReadsIsOneLineExitOne) {
  TempDir tmp;
  std::filesystem::create_directory(tmp.file("folder.png"));
  const std::string ckpt = run() + "/last.safetensors";
  expect_clean_failure({"sample", ckpt, "--out", tmp.file("folder.png")}, 1, "is a folder", {},
                       tmp.path());
  ASSERT_EQ(::mkfifo(tmp.file("fifo").c_str(), 0600), 0);
  expect_clean_failure({"eval", ckpt, "--threads", "1", "--out", tmp.file("fifo")}, 1,
                       "no process is reading it", {}, tmp.path());
}

}  // namespace
}  // namespace vae_cli_test
