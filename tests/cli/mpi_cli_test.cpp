// `vae train` under mpiexec (src/train/distributed.h): the same parameters bit for bit for any
// rank count, with the exchange overlapped with the backward pass or not, rank 0 alone writes and prints, a rank that cannot start stops all, NaN recovery
// agreed by all ranks, and a killed rank stops the others. Built only when the build has MPI and
// no sanitizer (tests/CMakeLists.txt); each test skips when mpiexec is absent.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <thread>

#include "cli_util.h"
#include "vae/checkpoint.h"

namespace vae_cli_test {
namespace {

namespace fs = std::filesystem;

// Open MPI's settings for the test machine, as docs/distributed.md explains them: run as root
// in a container, more ranks than cores, and the shared-memory transport without the
// cross-process copy a container may forbid.
const std::vector<std::string> kMpiEnv = {
    "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
    "OMPI_MCA_rmaps_base_oversubscribe=1", "OMPI_MCA_btl_vader_single_copy_mechanism=none"};

bool have_mpiexec() {
  return std::string(VAE_MPIEXEC).size() > 0 && fs::exists(VAE_MPIEXEC);
}

#define REQUIRE_MPIEXEC() \
  if (!have_mpiexec()) GTEST_SKIP() << "mpiexec not found (Debian: openmpi-bin)"

// A data set of n 6x6 images in four classes (cli_util.h's generator) as MNIST files in dir.
std::string write_images(const std::string& dir, int n) {
  fs::create_directories(dir);
  vae_test::write_bytes(dir + "/train-images-idx3-ubyte",
                        idx_bytes(0x08, {static_cast<uint32_t>(n), kSide, kSide}, image_payload(n, 0)));
  vae_test::write_bytes(dir + "/train-labels-idx1-ubyte",
                        idx_bytes(0x08, {static_cast<uint32_t>(n)}, label_payload(n)));
  vae_test::write_bytes(dir + "/t10k-images-idx3-ubyte", test_images());
  vae_test::write_bytes(dir + "/t10k-labels-idx1-ubyte", test_labels());
  return dir;
}

// `vae train` options of the runs compared here: 384 examples, batches of 96 rows (3 shards of
// 32), one thread per rank.
std::vector<std::string> train_args(const std::string& data, const std::string& out, int epochs) {
  return {"train", "--data", data, "--out", out, "--epochs", std::to_string(epochs),
          "--batch-size", "96", "--hidden", "32", "--latent", "4", "--threads", "1"};
}

// mpiexec with the groups given, each "-np N vae args..." (several: MPMD, ':' between them).
std::vector<std::string> mpiexec_args(const std::vector<std::pair<int, std::vector<std::string>>>& groups) {
  std::vector<std::string> a;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (g > 0) a.push_back(":");
    a.insert(a.end(), {"-np", std::to_string(groups[g].first), VAE_BINARY});
    a.insert(a.end(), groups[g].second.begin(), groups[g].second.end());
  }
  return a;
}

// kMpiEnv with Open MPI's session directory under `scratch`: jobs that run at once (ctest -j)
// would otherwise share /tmp/ompi.HOST.UID, which the first job to end removes while another
// is still creating its own folder in it ("A call to mkdir was unable to create ...").
std::vector<std::string> mpi_env(const std::string& scratch) {
  std::vector<std::string> env = kMpiEnv;
  env.push_back("OMPI_MCA_orte_tmpdir_base=" + scratch);
  return env;
}

RunResult run_mpi(const std::vector<std::string>& args) {
  vae_test::TempDir session;
  return run_binary(VAE_MPIEXEC, args, mpi_env(session.path()));
}

RunResult train_np(int np, const std::vector<std::string>& args) {
  return run_mpi(mpiexec_args({{np, args}}));
}

// Parameters, Adam's moments and step of two checkpoints, bit for bit.
void expect_same_state(const std::string& a, const std::string& b) {
  const vae::Checkpoint x = vae::load_checkpoint(a), y = vae::load_checkpoint(b);
  ASSERT_EQ(x.params.size(), y.params.size());
  EXPECT_EQ(std::memcmp(x.params.data(), y.params.data(), x.params.size() * sizeof(float)), 0)
      << a << " and " << b << " hold different parameters";
  ASSERT_EQ(x.adam_m.size(), y.adam_m.size());
  EXPECT_EQ(std::memcmp(x.adam_m.data(), y.adam_m.data(), x.adam_m.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(x.adam_v.data(), y.adam_v.data(), x.adam_v.size() * sizeof(float)), 0);
  EXPECT_EQ(x.adam_step, y.adam_step);
  EXPECT_EQ(x.state.epoch, y.state.epoch);
}

TEST(MpiCli, SameParametersForAnyRankCountAsThreeThreadsInOneProcess) {
  REQUIRE_MPIEXEC();
  vae_test::TempDir tmp;
  const std::string data = write_images(tmp.file("data"), 384);
  for (int np : {1, 2, 3}) {
    const auto args = train_args(data, tmp.file("np" + std::to_string(np)), 2);
    const RunResult r = train_np(np, args);
    ASSERT_EQ(r.code, 0) << describe(args, r);
    // Rank 0 alone prints: one plan line.
    EXPECT_EQ(r.out.find(" parameters; data "), r.out.rfind(" parameters; data ")) << r.out;
    EXPECT_EQ(r.out.find("epoch 2/2"), r.out.rfind("epoch 2/2")) << r.out;
  }
  expect_same_state(tmp.file("np1/last.safetensors"), tmp.file("np2/last.safetensors"));
  expect_same_state(tmp.file("np1/last.safetensors"), tmp.file("np3/last.safetensors"));
  // The exchange overlapped with the backward pass (VAE_MPI_OVERLAP=1; on one machine the
  // default exchanges after each rank's last shard): the same parameters.
  {
    const auto args = train_args(data, tmp.file("np3-overlap"), 2);
    vae_test::TempDir session;
    std::vector<std::string> env = mpi_env(session.path());
    env.push_back("VAE_MPI_OVERLAP=1");
    const RunResult r = run_binary(VAE_MPIEXEC, mpiexec_args({{3, args}}), env);
    ASSERT_EQ(r.code, 0) << describe(args, r);
    expect_same_state(tmp.file("np1/last.safetensors"), tmp.file("np3-overlap/last.safetensors"));
  }
  // The reference computed another way: one process, no MPI, its three threads each running a
  // part of 32 rows (train/data_parallel.h), the parts summed in order as the shards are.
  auto plain = train_args(data, tmp.file("threads"), 2);
  plain.back() = "3";
  const RunResult r = vae_run(plain);
  ASSERT_EQ(r.code, 0) << describe(plain, r);
  expect_same_state(tmp.file("threads/last.safetensors"), tmp.file("np2/last.safetensors"));
  // The comparison can fail: another batch size trains other parameters.
  auto other = train_args(data, tmp.file("other"), 2);
  other[8] = "128";
  ASSERT_EQ(vae_run(other).code, 0);
  const vae::Checkpoint a = vae::load_checkpoint(tmp.file("other/last.safetensors"));
  const vae::Checkpoint b = vae::load_checkpoint(tmp.file("np2/last.safetensors"));
  EXPECT_NE(std::memcmp(a.params.data(), b.params.data(), a.params.size() * sizeof(float)), 0);
}

TEST(MpiCli, TheHeldOutScoreIsSplitOverTheRanksAndIsOneProcesss) {
  REQUIRE_MPIEXEC();
  vae_test::TempDir tmp;
  const std::string data = write_images(tmp.file("data"), 384);
  // 192 validation rows: two batches of 96, scored by different ranks under mpiexec.
  std::vector<vae::Checkpoint> runs;
  for (int np : {1, 2, 3}) {
    auto args = train_args(data, tmp.file("np" + std::to_string(np)), 2);
    args.insert(args.end(), {"--val-split", "0.5"});
    const RunResult r = train_np(np, args);
    ASSERT_EQ(r.code, 0) << describe(args, r);
    runs.push_back(vae::load_checkpoint(tmp.file("np" + std::to_string(np) + "/last.safetensors")));
  }
  const double one = runs[0].state.best_test_loss;
  EXPECT_TRUE(std::isfinite(one) && one > 0) << one;
  // Bit for bit: the batches' sums are added in batch order whichever rank scored them.
  EXPECT_EQ(std::memcmp(&runs[1].state.best_test_loss, &one, sizeof one), 0)
      << runs[1].state.best_test_loss << " vs " << one;
  EXPECT_EQ(std::memcmp(&runs[2].state.best_test_loss, &one, sizeof one), 0)
      << runs[2].state.best_test_loss << " vs " << one;
  EXPECT_EQ(runs[2].state.best_epoch, runs[0].state.best_epoch);
}

TEST(MpiCli, ResumeWithAnotherRankCountEqualsTheUninterruptedRun) {
  REQUIRE_MPIEXEC();
  vae_test::TempDir tmp;
  const std::string data = write_images(tmp.file("data"), 384);
  const auto whole = train_args(data, tmp.file("whole"), 3);
  ASSERT_EQ(train_np(1, whole).code, 0);
  const auto first = train_args(data, tmp.file("split"), 1);
  ASSERT_EQ(train_np(2, first).code, 0);
  const std::vector<std::string> resume = {"train", "--resume", tmp.file("split/last.safetensors"),
                                           "--epochs", "3", "--threads", "1"};
  const RunResult r = train_np(3, resume);
  ASSERT_EQ(r.code, 0) << describe(resume, r);
  expect_same_state(tmp.file("whole/last.safetensors"), tmp.file("split/last.safetensors"));
}

TEST(MpiCli, OnlyRankZeroWritesAndPrints) {
  REQUIRE_MPIEXEC();
  vae_test::TempDir tmp;
  const std::string data = write_images(tmp.file("data"), 192);
  // Each rank names its own folder (MPMD); rank 1's must stay untouched.
  fs::create_directories(tmp.file("rank1"));
  vae_test::write_bytes(tmp.file("rank1/keep.txt"), "kept");
  const RunResult r = run_mpi(mpiexec_args(
      {{1, train_args(data, tmp.file("rank0"), 1)}, {1, train_args(data, tmp.file("rank1"), 1)}}));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(vae_test::exists(tmp.file("rank0/last.safetensors")));
  EXPECT_TRUE(vae_test::exists(tmp.file("rank0/metrics.jsonl")));
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(tmp.file("rank1")))
    names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"keep.txt"});
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out.find("epoch 1/1"), r.out.rfind("epoch 1/1")) << r.out;
}

TEST(MpiCli, ARankThatCannotReadTheDataStopsAllBeforeTraining) {
  REQUIRE_MPIEXEC();
  vae_test::TempDir tmp;
  const std::string data = write_images(tmp.file("data"), 192);
  const RunResult r =
      run_mpi(mpiexec_args({{1, train_args(data, tmp.file("run"), 1)},
                            {1, train_args(tmp.file("missing"), tmp.file("run"), 1)}}));
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  // One line of ours, from rank 0, naming the rank and its data (Open MPI may add its own note
  // that a process exited with a non-zero code).
  const auto lines = split_lines(r.err);
  ASSERT_FALSE(lines.empty()) << r.err;
  EXPECT_EQ(lines[0].rfind("vae: rank 1: ", 0), 0u) << r.err;
  EXPECT_NE(lines[0].find("missing"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("vae:", 1), std::string::npos) << r.err;
  EXPECT_FALSE(vae_test::exists(tmp.file("run"))) << "no folder for a run that did not start";
}

TEST(MpiCli, NonFiniteStepsAreRecoveredAlikeOnEveryRank) {
  REQUIRE_MPIEXEC();
  vae_test::TempDir tmp;
  const std::string data = write_images(tmp.file("data"), 192);
  auto args = train_args(data, tmp.file("np1"), 2);
  // A learning rate that overflows the parameters: every step's recovery halves it.
  args.insert(args.end(), {"--lr", "1e30", "--max-recoveries", "2"});
  const RunResult one = train_np(1, args);
  args[4] = tmp.file("np3");
  const RunResult three = train_np(2, args);
  EXPECT_EQ(one.code, 1) << one.out << one.err;
  EXPECT_EQ(three.code, one.code) << three.out << three.err;
  EXPECT_NE(one.out.find("recovery 2 of 2"), std::string::npos) << one.out;
  EXPECT_EQ(split_lines(three.out).size(), split_lines(one.out).size()) << three.out;
  EXPECT_NE(three.out.find("recovery 2 of 2"), std::string::npos) << three.out;
  EXPECT_NE(three.err.find("training diverged"), std::string::npos) << three.err;
}

// `vae eval` output without its timing ("seconds": ...), for comparing runs.
std::string without_seconds(const std::string& json) {
  std::string out;
  for (const std::string& line : split_lines(json))
    if (line.find("\"seconds\"") == std::string::npos) out += line + "\n";
  return out;
}

TEST(MpiCli, EvalAndScoreSplitTheExamplesAndGiveOneProcesssFigures) {
  REQUIRE_MPIEXEC();
  vae_test::TempDir tmp;
  const std::string data = write_images(tmp.file("data"), 192);
  ASSERT_EQ(vae_run(train_args(data, tmp.file("run"), 1)).code, 0);
  const std::string ckpt = tmp.file("run/last.safetensors");
  const std::vector<std::string> eval = {"eval", ckpt, "--iw", "16", "--threads", "1"};
  const RunResult one = vae_run(eval);
  ASSERT_EQ(one.code, 0) << describe(eval, one);
  ASSERT_NE(one.out.find("\"iw\""), std::string::npos) << one.out;
  const RunResult three = train_np(3, eval);
  ASSERT_EQ(three.code, 0) << describe(eval, three);
  EXPECT_EQ(without_seconds(three.out), without_seconds(one.out));
  // The 192 training images: three ranks encode and score 64 each.
  auto train_iw = eval;
  train_iw.insert(train_iw.end(), {"--split", "train"});
  const RunResult one_train = vae_run(train_iw), three_train = train_np(3, train_iw);
  ASSERT_EQ(one_train.code, 0) << describe(train_iw, one_train);
  ASSERT_EQ(three_train.code, 0) << describe(train_iw, three_train);
  EXPECT_EQ(without_seconds(three_train.out), without_seconds(one_train.out));

  const std::vector<std::string> score = {"score", ckpt, "--iw", "16", "--threads", "1", "--out",
                                          tmp.file("one.csv")};
  ASSERT_EQ(vae_run(score).code, 0);
  auto score3 = score;
  score3.back() = tmp.file("three.csv");
  const RunResult s3 = train_np(3, score3);
  ASSERT_EQ(s3.code, 0) << describe(score3, s3);
  EXPECT_EQ(count_lines(s3.out), 1u) << s3.out;
  const std::string a = vae_test::read_bytes(tmp.file("one.csv"));
  EXPECT_GT(count_lines(a), 16u);
  EXPECT_EQ(vae_test::read_bytes(tmp.file("three.csv")), a);
}

TEST(MpiCli, EvalSplitsItsBatchesOverTheRanksAndGivesOneProcesssFigures) {
  REQUIRE_MPIEXEC();
  vae_test::TempDir tmp;
  const std::string data = write_images(tmp.file("data"), 192);
  ASSERT_EQ(vae_run(train_args(data, tmp.file("run"), 1)).code, 0);
  // 192 training rows in batches of 40: five batches, which two or three ranks divide unevenly.
  const std::vector<std::string> eval = {"eval",         tmp.file("run/last.safetensors"),
                                         "--split",      "train",
                                         "--batch-size", "40",
                                         "--threads",    "1"};
  const RunResult one = vae_run(eval);
  ASSERT_EQ(one.code, 0) << describe(eval, one);
  ASSERT_NE(one.out.find("\"kl_per_dim\""), std::string::npos) << one.out;
  ASSERT_NE(one.out.find("\"mse\""), std::string::npos) << one.out;
  for (int np : {2, 3}) {
    const RunResult r = train_np(np, eval);
    ASSERT_EQ(r.code, 0) << describe(eval, r);
    // Rank 0 alone prints, the figures of one process: loss, KL per dimension, active units, mse.
    EXPECT_EQ(r.out, one.out) << np << " ranks";
  }
  // The comparison can fail: another seed draws other ε, another one-sample ELBO.
  auto reseeded = eval;
  reseeded.insert(reseeded.end(), {"--seed", "5"});
  const RunResult other = train_np(2, reseeded);
  ASSERT_EQ(other.code, 0) << describe(reseeded, other);
  EXPECT_NE(other.out, one.out);
}

// The pid of the process whose environment holds `marker` and OMPI_COMM_WORLD_RANK=rank, or 0.
pid_t rank_pid(const std::string& marker, int rank) {
  const std::string want = "OMPI_COMM_WORLD_RANK=" + std::to_string(rank);
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(e.path() / "environ", std::ios::binary);
    const std::string env((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    bool mine = false, ranked = false;
    for (size_t at = 0; at < env.size();) {
      const size_t end = env.find('\0', at);
      const std::string var = env.substr(at, end == std::string::npos ? end : end - at);
      mine = mine || var == marker;
      ranked = ranked || var == want;
      if (end == std::string::npos) break;
      at = end + 1;
    }
    if (mine && ranked) return static_cast<pid_t>(std::stoi(name));
  }
  return 0;
}

TEST(MpiCli, AKilledRankStopsTheOthersAndTheRunResumes) {
  REQUIRE_MPIEXEC();
  vae_test::TempDir tmp;
  const std::string data = write_images(tmp.file("data"), 384);
  const std::string marker = "VAE_TEST_RUN=" + tmp.path();
  auto args = train_args(data, tmp.file("run"), 100000);
  fs::create_directory(tmp.file("ompi"));
  auto env = mpi_env(tmp.file("ompi"));
  env.push_back(marker);
  env.push_back("VAE_MPI_TIMEOUT=10");
  const pid_t job = spawn_binary(VAE_MPIEXEC, mpiexec_args({{2, args}}), env, tmp.file("out"),
                                 tmp.file("err"));
  ASSERT_GT(job, 0);
  // Once an epoch is committed, rank 1 is killed.
  const auto t0 = std::chrono::steady_clock::now();
  auto since = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  while (!vae_test::exists(tmp.file("run/last.safetensors")) && since() < 30)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const pid_t victim = rank_pid(marker, 1);
  if (!vae_test::exists(tmp.file("run/last.safetensors")) || victim <= 0) {
    ::kill(job, SIGKILL);
    ::waitpid(job, nullptr, 0);
    FAIL() << "no epoch committed within 30 s\n" << vae_test::read_bytes(tmp.file("err"));
  }
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  const auto killed = std::chrono::steady_clock::now();
  int status = 0;
  pid_t done = 0;
  auto since_kill = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  };
  while ((done = ::waitpid(job, &status, WNOHANG)) == 0 && since_kill() < 45)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (done == 0) {
    ::kill(job, SIGKILL);
    ::waitpid(job, &status, 0);
    FAIL() << "the job did not stop within 45 s of the kill";
  }
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  EXPECT_LT(took, 30) << vae_test::read_bytes(tmp.file("err"));
  EXPECT_NE(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), 0);
  // The last checkpoint is whole, and the run goes on from it.
  const vae::Checkpoint last = vae::load_checkpoint(tmp.file("run/last.safetensors"));
  EXPECT_GE(last.state.epoch, 1);
  const std::vector<std::string> resume = {"train", "--resume", tmp.file("run/last.safetensors"),
                                           "--epochs", std::to_string(last.state.epoch + 1),
                                           "--threads", "1"};
  const RunResult r = train_np(2, resume);
  EXPECT_EQ(r.code, 0) << describe(resume, r);
  EXPECT_EQ(vae::load_checkpoint(tmp.file("run/last.safetensors")).state.epoch, last.state.epoch + 1);
}

}  // namespace
}  // namespace vae_cli_test
