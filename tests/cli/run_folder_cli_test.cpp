// A run folder while `vae train` writes it: a second writer is refused (one line naming the
// holder's pid) and changes nothing, readers see whole files, and SIGINT/SIGTERM stop the run at
// the end of a step with its checkpoint, metrics and final.json, a line saying how to resume,
// and exit 130/143; the resumed run ends where an uninterrupted one does, bit for bit. A second
// SIGINT quits at once.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_util.h"
#include "test_util.h"
#include "vae/checkpoint.h"

namespace vae_cli_test {
namespace {

using vae_test::exists;
using vae_test::read_bytes;
using vae_test::TempDir;
using Clock = std::chrono::steady_clock;

std::vector<std::string> train_args(const std::string& data, const std::string& out, int epochs) {
  return {"train",   "--data",     data, "--out",     out,         "--hidden", "8",
          "--latent", "2",         "--epochs", std::to_string(epochs), "--batch-size", "4",
          "--threads", "1",        "--seed",   "7"};
}

// A run in the background, its stdout and stderr in files.
struct Background {
  pid_t pid = -1;
  std::string out_path, err_path;
  int status = 0;
  bool done = false;

  Background(const TempDir& tmp, const std::vector<std::string>& args,
             const std::vector<std::string>& env)
      : out_path(tmp.file("bg.out")), err_path(tmp.file("bg.err")) {
    pid = spawn_binary(VAE_BINARY, args, env, out_path, err_path);
  }
  ~Background() {
    if (pid > 0 && !done) {
      ::kill(pid, SIGKILL);
      wait();
    }
  }
  bool ended() {
    if (!done && ::waitpid(pid, &status, WNOHANG) == pid) done = true;
    return done;
  }
  int wait() {
    while (!done && ::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    done = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
};

// Polls `ready` every millisecond for up to 60 s; false when it never held or `bg` ended first.
template <class Ready>
bool wait_for(Background& bg, Ready ready) {
  const auto give_up = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < give_up) {
    if (ready()) return true;
    if (bg.ended()) return ready();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

size_t metrics_lines(const std::string& run) { return count_lines(read_bytes(run + "/metrics.jsonl")); }

TEST(RunFolderCli, ASecondWriterIsRefusedNamingTheHolderAndChangesNothing) {
  TempDir tmp;
  const std::string data = write_data(tmp.file("data")), run = tmp.file("run");
  Background first(tmp, train_args(data, run, 4), {"VAE_TEST_SLOW_COMMIT_MS=60"});
  ASSERT_GT(first.pid, 0);
  ASSERT_TRUE(wait_for(first, [&] { return metrics_lines(run) >= 1; }));
  ASSERT_FALSE(first.ended()) << read_bytes(first.err_path);

  // --overwrite would remove the first run's files if the second got that far.
  auto second = train_args(data, run, 2);
  second.push_back("--overwrite");
  const RunResult r = vae_run(second);
  EXPECT_EQ(r.code, 1) << describe(second, r);
  EXPECT_EQ(count_lines(r.err), 1u) << describe(second, r);
  EXPECT_NE(r.err.find("(pid " + std::to_string(first.pid) + ")"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");

  EXPECT_EQ(first.wait(), 0) << read_bytes(first.err_path);
  EXPECT_EQ(metrics_lines(run), 4u) << "the first run's epochs are all there";
  EXPECT_EQ(vae::load_checkpoint(run + "/last.safetensors").state.epoch, 4);
  EXPECT_EQ(temp_files_under(run), std::vector<std::string>{});
  // Once the holder has ended, the folder takes a writer again.
  const RunResult again = vae_run({"train", "--resume", run + "/last.safetensors", "--epochs", "5",
                                   "--threads", "1"});
  EXPECT_EQ(again.code, 0) << again.err;
}

TEST(RunFolderCli, ReadersOfAFolderBeingWrittenSeeWholeFiles) {
  TempDir tmp;
  const std::string data = write_data(tmp.file("data")), run = tmp.file("run");
  Background writer(tmp, train_args(data, run, 5), {"VAE_TEST_SLOW_COMMIT_MS=40"});
  ASSERT_GT(writer.pid, 0);
  ASSERT_TRUE(wait_for(writer, [&] { return exists(run + "/last.safetensors"); }));
  int reads = 0;
  while (!writer.ended()) {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"eval", run, "--threads", "1"},
          std::vector<std::string>{"curves", run, "--out", tmp.file("c.svg")}}) {
      const RunResult r = vae_run(args);
      EXPECT_EQ(r.code, 0) << describe(args, r);
      ++reads;
    }
  }
  EXPECT_EQ(writer.wait(), 0) << read_bytes(writer.err_path);
  EXPECT_GE(reads, 2);
}

// Stops a run by `sig` once its first epoch is written; returns the stderr and exit code.
RunResult stop_run(const TempDir& tmp, const std::vector<std::string>& args, int sig) {
  Background bg(tmp, args, {"VAE_TEST_SLOW_COMMIT_MS=60"});
  const std::string run = args[4];
  RunResult r;
  if (!wait_for(bg, [&] { return metrics_lines(run) >= 1; })) return r;
  ::kill(bg.pid, sig);
  r.code = bg.wait();
  r.out = read_bytes(bg.out_path);
  r.err = read_bytes(bg.err_path);
  return r;
}

TEST(RunFolderCli, SigintStopsWithACheckpointAndTheResumeEndsBitForBit) {
  TempDir tmp;
  const std::string data = write_data(tmp.file("data"));
  const std::string ref = tmp.file("ref"), run = tmp.file("run");
  constexpr int kEpochs = 6;
  const RunResult whole = vae_run(train_args(data, ref, kEpochs));
  ASSERT_EQ(whole.code, 0) << whole.err;

  const RunResult r = stop_run(tmp, train_args(data, run, kEpochs), SIGINT);
  ASSERT_EQ(r.code, 130) << r.out << r.err;
  const vae::Checkpoint last = vae::load_checkpoint(run + "/last.safetensors");
  ASSERT_GE(last.state.epoch, 1);
  ASSERT_LT(last.state.epoch, kEpochs) << "the run ended before the signal";
  // What was done: as many metrics lines as epochs, and final.json saying it was interrupted.
  EXPECT_EQ(metrics_lines(run), static_cast<size_t>(last.state.epoch));
  const auto final_json = nlohmann::json::parse(read_bytes(run + "/final.json"));
  EXPECT_EQ(final_json.at("interrupted"), true);
  EXPECT_EQ(final_json.at("epochs_run"), last.state.epoch);
  // One last line on stderr: how to go on.
  const std::string resume = "vae train --resume " + run + "/last.safetensors --threads 1";
  const auto lines = split_lines(r.err);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back(), "vae: stopped by SIGINT; last.safetensors holds epoch " +
                              std::to_string(last.state.epoch) + " of 6 (an unfinished epoch is "
                              "redone); resume with: " + resume);
  EXPECT_EQ(temp_files_under(run), std::vector<std::string>{});

  const RunResult resumed = vae_run({"train", "--resume", run + "/last.safetensors", "--threads", "1"});
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  const vae::Checkpoint a = vae::load_checkpoint(ref + "/last.safetensors");
  const vae::Checkpoint b = vae::load_checkpoint(run + "/last.safetensors");
  EXPECT_EQ(b.state.epoch, kEpochs);
  ASSERT_EQ(a.params.size(), b.params.size());
  EXPECT_EQ(std::memcmp(a.params.data(), b.params.data(), a.params.size() * sizeof(float)), 0);
  EXPECT_EQ(a.state.rng, b.state.rng);
  const auto ref_lines = split_lines(read_bytes(ref + "/metrics.jsonl"));
  const auto run_lines = split_lines(read_bytes(run + "/metrics.jsonl"));
  ASSERT_EQ(run_lines.size(), static_cast<size_t>(kEpochs));
  for (int e = 0; e < kEpochs; ++e)
    for (const char* key : {"epoch", "train_loss", "val_loss"})
      EXPECT_EQ(nlohmann::json::parse(ref_lines[e]).at(key), nlohmann::json::parse(run_lines[e]).at(key))
          << key << " of epoch " << e + 1;
}

TEST(RunFolderCli, SigtermStopsWithExit143) {
  TempDir tmp;
  const std::string data = write_data(tmp.file("data")), run = tmp.file("run");
  const RunResult r = stop_run(tmp, train_args(data, run, 6), SIGTERM);
  EXPECT_EQ(r.code, 143) << r.out << r.err;
  EXPECT_NE(r.err.find("vae: stopped by SIGTERM; last.safetensors holds epoch"), std::string::npos)
      << r.err;
  EXPECT_TRUE(exists(run + "/final.json"));
}

TEST(RunFolderCli, ASecondSigintQuitsAtOnceInsideAWrite) {
  TempDir tmp;
  const std::string data = write_data(tmp.file("data")), run = tmp.file("run");
  // Every atomic write sleeps 3 s before its rename; both signals land inside the first one.
  Background bg(tmp, train_args(data, run, 2), {"VAE_TEST_SLOW_COMMIT_MS=3000"});
  const std::string tmp_metrics = run + "/metrics.jsonl.tmp." + std::to_string(bg.pid);
  ASSERT_TRUE(wait_for(bg, [&] { return exists(tmp_metrics); }));
  ::kill(bg.pid, SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ::kill(bg.pid, SIGINT);
  EXPECT_EQ(bg.wait(), 130);
  // It did not finish the write it was in: metrics.jsonl never appeared, nor a checkpoint.
  EXPECT_FALSE(exists(run + "/metrics.jsonl"));
  EXPECT_FALSE(exists(run + "/last.safetensors"));
  // The next run starts cleanly and removes the temporary left behind.
  auto again = train_args(data, run, 1);
  const RunResult r = vae_run(again);
  EXPECT_EQ(r.code, 0) << describe(again, r);
  EXPECT_EQ(temp_files_under(run), std::vector<std::string>{});
}

}  // namespace
}  // namespace vae_cli_test
