// `vae train` when things go wrong around it, end to end on the tiny data set of cli_util.h:
//   - killed (SIGKILL) at seeded random moments and in the middle of checkpoint writes, then
//     resumed each time: the last checkpoint always loads, killed writers' temporaries do not
//     pile up, and the final parameters equal an uninterrupted run's bit for bit;
//   - an --out folder it cannot write, a file system too small for the checkpoints, a write
//     that fails mid-checkpoint (a file size limit standing in for a full disk): one line
//     naming the folder or file, and the previous checkpoint intact;
//   - a diverging run: one line per recovery on stdout, then one error line after
//     --max-recoveries.
//
// Legend: D = 36 values per 6x6 image, H hidden units, Z = 2 latent dimensions.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_util.h"
#include "io/fileio.h"
#include "test_util.h"
#include "vae/checkpoint.h"

namespace vae_cli_test {
namespace {

namespace fs = std::filesystem;
using vae_test::exists;
using vae_test::read_bytes;
using vae_test::TempDir;

std::vector<std::string> train_args(const std::string& data, const std::string& out, int epochs,
                                    int hidden = 8, int batch = 4) {
  return {"train",         "--data",   data, "--out",    out,
          "--hidden",      std::to_string(hidden),   "--latent", "2",
          "--epochs",      std::to_string(epochs),   "--batch-size", std::to_string(batch),
          "--threads",     "1",        "--seed",   "7"};
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// ---------------------------------------------------------------------------------------------
// Running the command in the background, to kill it

/// Starts `vae args...` in the background (spawn_binary); returns its pid, or -1.
pid_t start_vae(const std::vector<std::string>& args, const std::vector<std::string>& extra_env,
                const std::string& out_path, const std::string& err_path) {
  return spawn_binary(VAE_BINARY, args, extra_env, out_path, err_path);
}

/// Whether `pid` (a child) has ended; reaps it and stores its wait status when it has.
bool ended(pid_t pid, int* status) {
  return ::waitpid(pid, status, WNOHANG) == pid;
}

// ---------------------------------------------------------------------------------------------
// 1. SIGKILL at random moments and mid-write, then --resume

TEST(CrashCli, KilledRunsResumeToTheUninterruptedRunBitForBit) {
  TempDir tmp;
  const std::string data = write_data(tmp.file("data"));
  const std::string ref = tmp.file("ref"), run = tmp.file("run");
  const std::string last = run + "/last.safetensors";
  constexpr int kEpochs = 6;  // 16 steps each (64 examples, batches of 4)

  const auto ref_args = train_args(data, ref, kEpochs);
  const RunResult r = vae_run(ref_args);
  ASSERT_EQ(r.code, 0) << describe(ref_args, r);

  // The hook makes every atomic write pause 30 ms between writing its temporary and renaming it,
  // so the kills below can land inside a write, where a crash would do damage if any were
  // possible. Kills alternate between two kinds: at a seeded random moment, and the moment a
  // checkpoint's (or metrics.jsonl's) temporary appears, which is always inside a write.
  const std::vector<std::string> slow = {"VAE_TEST_SLOW_COMMIT_MS=30"};
  std::mt19937 gen(20240611u);
  std::uniform_int_distribution<int> delay_ms(5, 400);
  const char* watched[] = {"last.safetensors", "metrics.jsonl", "best.safetensors"};
  int mid_write_kills = 0;
  for (int kill_no = 0; kill_no < 6; ++kill_no) {
    SCOPED_TRACE("kill " + std::to_string(kill_no));
    // Resume when there is a checkpoint; a run killed before its first one starts afresh.
    const std::vector<std::string> args =
        exists(last) ? std::vector<std::string>{"train", "--resume", last, "--threads", "1"}
                     : train_args(data, run, kEpochs);
    const std::vector<std::string> before = temp_files_under(run);
    const pid_t pid = start_vae(args, slow, tmp.file("out.txt"), tmp.file("err.txt"));
    ASSERT_GT(pid, 0);
    int status = 0;
    bool finished = false, in_write = false;
    std::string watched_tmp;
    if (kill_no % 2 == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(gen)));
      finished = ended(pid, &status);
    } else {
      // Poll for the temporary of the watched file: it exists only inside that file's write,
      // which the hook keeps open for 30 ms.
      watched_tmp = run + "/" + watched[(kill_no / 2) % 3] + ".tmp." + std::to_string(pid);
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (!(in_write = exists(watched_tmp)) && !(finished = ended(pid, &status)) &&
             std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(std::chrono::microseconds(500));
      ASSERT_TRUE(in_write || finished) << "no write of " << watched_tmp << " within 30 s";
    }
    if (!finished) {
      ASSERT_EQ(::kill(pid, SIGKILL), 0);
      ASSERT_EQ(::waitpid(pid, &status, 0), pid);
      ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    }
    if (in_write) {
      ++mid_write_kills;
      // The write was cut off: its temporary is still there, the file it was to replace is not
      // harmed (checked below through vae info).
      EXPECT_TRUE(exists(watched_tmp)) << watched_tmp;
    }

    // The checkpoint loads whenever there is one.
    if (exists(last)) {
      const RunResult info = vae_run({"info", last});
      EXPECT_EQ(info.code, 0) << describe({"info", last}, info);
    }
    // Temporaries do not pile up: each one now is either from before this run (which may have
    // been killed before it got to clean up) or this run's own, and this run wrote one file at
    // a time.
    const std::set<std::string> old(before.begin(), before.end());
    const std::string suffix = ".tmp." + std::to_string(pid);
    int own = 0;
    for (const std::string& t : temp_files_under(run)) {
      const bool mine = t.size() > suffix.size() &&
                        t.compare(t.size() - suffix.size(), suffix.size(), suffix) == 0;
      own += mine;
      EXPECT_TRUE(mine || old.count(t)) << t;
    }
    EXPECT_LE(own, 1);
  }
  EXPECT_GE(mid_write_kills, 2) << "the kills meant to land inside a write all missed";

  // The final, uninterrupted run finishes the job and cleans up every stale temporary.
  const std::vector<std::string> args =
      exists(last) ? std::vector<std::string>{"train", "--resume", last, "--threads", "1"}
                   : train_args(data, run, kEpochs);
  const RunResult done = vae_run(args);
  ASSERT_EQ(done.code, 0) << describe(args, done);
  EXPECT_EQ(temp_files_under(run), std::vector<std::string>{});

  for (const char* name : {"last.safetensors", "best.safetensors"}) {
    SCOPED_TRACE(name);
    const vae::Checkpoint a = vae::load_checkpoint(ref + "/" + name);
    const vae::Checkpoint b = vae::load_checkpoint(run + "/" + name);
    EXPECT_TRUE(same_bits(a.params, b.params));
    EXPECT_TRUE(same_bits(a.adam_m, b.adam_m));
    EXPECT_TRUE(same_bits(a.adam_v, b.adam_v));
    EXPECT_EQ(a.adam_step, b.adam_step);
    EXPECT_EQ(a.state.epoch, b.state.epoch);
    EXPECT_EQ(a.state.step, b.state.step);
    EXPECT_EQ(a.state.rng, b.state.rng);
    EXPECT_EQ(a.state.best_epoch, b.state.best_epoch);
  }
  EXPECT_EQ(vae::load_checkpoint(last).state.epoch, kEpochs);
  // metrics.jsonl holds every epoch once, with the uninterrupted run's losses.
  const auto ref_lines = split_lines(read_bytes(ref + "/metrics.jsonl"));
  const auto run_lines = split_lines(read_bytes(run + "/metrics.jsonl"));
  ASSERT_EQ(run_lines.size(), static_cast<size_t>(kEpochs));
  ASSERT_EQ(ref_lines.size(), static_cast<size_t>(kEpochs));
  for (int e = 0; e < kEpochs; ++e) {
    const auto a = nlohmann::json::parse(ref_lines[e]), b = nlohmann::json::parse(run_lines[e]);
    EXPECT_EQ(b.at("epoch"), e + 1);
    for (const char* key : {"train_loss", "train_recon", "train_kl", "val_loss"})
      EXPECT_EQ(a.at(key), b.at(key)) << key << " of epoch " << e + 1;
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Where the run cannot write

/// Runs `vae args...` as an unprivileged user: as itself when it is not root, else as nobody
/// (uid and gid 65534), since permission bits do not stop root. Returns code 200 when root
/// could not give up its privileges (a container without CAP_SETUID).
RunResult run_unprivileged(const std::vector<std::string>& args) {
  TempDir capture;
  const std::string out_path = capture.file("stdout"), err_path = capture.file("stderr");
  std::vector<char*> argv = {const_cast<char*>(VAE_BINARY)};
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const bool root = ::geteuid() == 0;
  const pid_t pid = ::fork();
  if (pid == 0) {  // only async-signal-safe calls until exec
    const int in = ::open("/dev/null", O_RDONLY);
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (in < 0 || out < 0 || err < 0) ::_exit(201);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    if (root && (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0))
      ::_exit(200);
    ::execve(VAE_BINARY, argv.data(), environ);
    ::_exit(202);
  }
  RunResult r;
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_bytes(out_path);
  r.err = read_bytes(err_path);
  return r;
}

TEST(OutputCli, AnOutFolderThatCannotBeWrittenFailsBeforeTraining) {
  TempDir tmp;
  // Readable by anyone (nobody reads the data when this runs as root).
  ::chmod(tmp.path().c_str(), 0755);
  const std::string data = write_data(tmp.file("data"));
  ::chmod(data.c_str(), 0755);
  const std::string locked = tmp.file("locked");
  fs::create_directories(locked);
  ::chmod(locked.c_str(), 0555);

  struct Case {
    std::string out, names;
  };
  for (const Case& c : {Case{locked, "--out: folder " + locked + " is not writable"},
                        Case{locked + "/run", "--out: cannot create folder " + locked + "/run"}}) {
    SCOPED_TRACE(c.out);
    const auto args = train_args(data, c.out, 1);
    const RunResult r = run_unprivileged(args);
    if (r.code == 200) GTEST_SKIP() << "running as root and cannot switch to an unprivileged user";
    const std::string what = describe(args, r);
    EXPECT_EQ(r.code, 1) << what;
    EXPECT_EQ(count_lines(r.err), 1u) << what;
    EXPECT_NE(r.err.find(c.names), std::string::npos) << what;
    EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << what;
    EXPECT_EQ(r.out, "") << what;  // nothing printed: training never started
  }
  EXPECT_TRUE(fs::is_empty(locked));
  ::chmod(locked.c_str(), 0755);  // so that TempDir can remove it
}

TEST(OutputCli, TooLittleFreeSpaceFailsBeforeTraining) {
  TempDir tmp;
  const std::string data = write_data(tmp.file("data"));
  const std::string run = tmp.file("run");
  // 16 hidden layers of 65536 each way: about 1.3e11 parameters, 1.5 TB per checkpoint and
  // three checkpoints needed; no test machine has that much room. The check comes before any
  // allocation, so the size costs nothing.
  std::string wide = "65536";
  for (int i = 1; i < 16; ++i) wide += ",65536";
  const auto free = vae::free_bytes(tmp.path());
  ASSERT_TRUE(free.has_value());
  if (*free > (uint64_t{4} << 40)) GTEST_SKIP() << "this file system has over 4 TiB free";
  auto args = train_args(data, run, 1);
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == "--hidden") args[i + 1] = wide;
  expect_clean_failure(args, 1, "--out: not enough free space in " + run + ": the run needs ",
                       {run}, tmp.path());
  const RunResult r = vae_run(args);
  EXPECT_NE(r.err.find(" TB ("), std::string::npos) << r.err;  // human-readable, then bytes
  EXPECT_NE(r.err.find(" are available"), std::string::npos) << r.err;
}

/// Runs `vae args...` under a file size limit of `bytes` (RLIMIT_FSIZE, with SIGXFSZ ignored so
/// that a write past it fails with EFBIG instead of killing the process): a full disk that
/// needs no privileges. posix_spawn passes both to the child. CTest runs each test in its own
/// process, so nothing else here writes while the limit is set.
RunResult run_with_file_size_limit(const std::vector<std::string>& args, rlim_t bytes) {
  rlimit saved{};
  ::getrlimit(RLIMIT_FSIZE, &saved);
  rlimit lim = saved;
  lim.rlim_cur = bytes;
  void (*old_handler)(int) = ::signal(SIGXFSZ, SIG_IGN);
  EXPECT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
  RunResult r = vae_run(args);
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, old_handler);
  return r;
}

TEST(OutputCli, AFailedCheckpointWriteKeepsThePreviousCheckpoint) {
  TempDir tmp;
  const std::string data = write_data(tmp.file("data"));
  const std::string run = tmp.file("run"), last = run + "/last.safetensors";
  // 64 hidden units: a checkpoint of about 60 kB, well over the limit below; the metrics file
  // and the captured output stay well under it.
  auto args = train_args(data, run, 1, 64, 16);
  RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const std::string before = read_bytes(last);
  ASSERT_GT(before.size(), 40000u);

  args = {"train", "--resume", last, "--epochs", "3", "--threads", "1"};
  r = run_with_file_size_limit(args, 16 << 10);
  const std::string what = describe(args, r);
  EXPECT_EQ(r.code, 1) << what;
  EXPECT_EQ(count_lines(r.err), 1u) << what;
  EXPECT_NE(r.err.find(".safetensors: write failed (File too large)"), std::string::npos) << what;
  EXPECT_EQ(read_bytes(last), before);
  EXPECT_EQ(temp_files_under(run), std::vector<std::string>{});
  const RunResult info = vae_run({"info", last});
  EXPECT_EQ(info.code, 0) << info.err;

  // With room again, the run resumes from the intact checkpoint.
  r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_EQ(vae::load_checkpoint(last).state.epoch, 3);
}

// ---------------------------------------------------------------------------------------------
// 3. A diverging run

TEST(RecoveryCli, EachRecoveryIsOneLineAndTheLimitStopsTheRunWithOneErrorLine) {
  TempDir tmp;
  const std::string data = write_data(tmp.file("data"));
  const std::string run = tmp.file("run"), last = run + "/last.safetensors";
  // One batch per epoch and lr 1e38: Adam's first step (lr/(1 − β₁) = 1e39 > FLT_MAX) throws
  // every parameter past the float range. Halving twice brings it back in range (2.5e37), so
  // epoch 1 completes; with parameters near 1e37 a later step is not finite again.
  auto args = train_args(data, run, 3, 8, 64);
  args.insert(args.end(), {"--lr", "1e38", "--max-recoveries", "2"});
  const RunResult r = vae_run(args);
  const std::string what = describe(args, r);
  EXPECT_EQ(r.code, 1) << what;
  std::vector<std::string> recoveries;
  for (const std::string& line : split_lines(r.out))
    if (line.find("not finite") != std::string::npos) recoveries.push_back(line);
  ASSERT_EQ(recoveries.size(), 2u) << what;
  EXPECT_EQ(recoveries[0].rfind("epoch 1, step 1: parameters decoder.out.bias, ", 0), 0u) << what;
  EXPECT_NE(recoveries[0].find(" are not finite; restored the starting state and halved the lr "
                               "(1e+38 -> 5e+37), recovery 1 of 2"),
            std::string::npos)
      << what;
  EXPECT_NE(recoveries[1].find("(5e+37 -> 2.5e+37), recovery 2 of 2"), std::string::npos) << what;
  EXPECT_EQ(count_lines(r.err), 1u) << what;
  EXPECT_EQ(r.err.rfind("vae: training diverged at epoch ", 0), 0u) << what;
  EXPECT_NE(r.err.find("again after 2 recoveries that lowered the lr to 2.5e+37 "
                       "(--max-recoveries 2); last.safetensors holds epoch 1"),
            std::string::npos)
      << what;

  // The last good checkpoint loads and records the lowered rate; a resumed run may be given
  // more recoveries, and goes on from the rate the first one reached.
  const RunResult info = vae_run({"info", last});
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("recoveries   2 from non-finite steps (at most 2); lr lowered to 2.5e+37"),
            std::string::npos)
      << info.out;
  const std::vector<std::string> more = {"train", "--resume", last, "--max-recoveries", "3",
                                         "--threads", "1"};
  const RunResult again = vae_run(more);
  EXPECT_NE(again.out.find("lr 2.5e+37 after 2 recoveries"), std::string::npos)
      << describe(more, again);
  EXPECT_NE(again.out.find("(2.5e+37 -> 1.25e+37), recovery 3 of 3"), std::string::npos)
      << describe(more, again);

  expect_clean_failure(
      {"train", "--data", data, "--out", tmp.file("bad"), "--max-recoveries", "-1"}, 2,
      "--max-recoveries: must be >= 0", {tmp.file("bad")}, tmp.path());
  const RunResult help = vae_run({"train", "--help"});
  EXPECT_NE(help.out.find("--max-recoveries INT=5"), std::string::npos) << help.out;
}

}  // namespace
}  // namespace vae_cli_test
