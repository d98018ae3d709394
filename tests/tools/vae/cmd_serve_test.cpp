// `vae serve` as a process: the port it prints, two models, SIGHUP reloading the checkpoints,
// the access log, SIGTERM's graceful stop (exit 0), and the command line's exit codes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <regex>
#include <thread>
#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "infer/infer_util.h"
#include "serve/http_client.h"
#include "vae/checkpoint.h"

namespace {

using vae_cli_test::vae_run;
using vae_test::http_request;

class ServeCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = tmp_.file("a.safetensors");
    b_ = tmp_.file("b.safetensors");
    vae::save_checkpoint(a_, vae_test::infer_checkpoint(0, true));
    vae::save_checkpoint(b_, vae_test::infer_checkpoint(2));
  }
  // Starts `vae serve ARGS --port 0 [--threads 1]` and waits (at most 20 s) for its "listening
  // on" line.
  int start(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
            bool one_thread = true) {
    std::vector<std::string> all = {"serve"};
    all.insert(all.end(), args.begin(), args.end());
    all.insert(all.end(), {"--port", "0"});
    if (one_thread) all.insert(all.end(), {"--threads", "1"});
    pid_ = vae_cli_test::spawn_binary(VAE_BINARY, all, env, tmp_.file("out"), tmp_.file("err"));
    const std::regex listening("listening on http://127\\.0\\.0\\.1:([0-9]+)");
    for (int i = 0; i < 2000; ++i) {
      std::smatch m;
      const std::string out = vae_test::read_bytes(tmp_.file("out"));
      if (std::regex_search(out, m, listening)) return std::stoi(m[1]);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "no 'listening on' line: " << vae_test::read_bytes(tmp_.file("err"));
    return 0;
  }
  int stop(int sig) {
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  void TearDown() override {
    if (pid_ > 0) stop(SIGKILL);
  }
  vae_test::TempDir tmp_;
  std::string a_, b_;
  pid_t pid_ = -1;
};

TEST_F(ServeCommand, ServesReloadsAndStops) {
  const int port = start({a_, "--model", "cond=" + b_});
  ASSERT_GT(port, 0);
  EXPECT_EQ(http_request(port, "GET", "/healthz").status, 200);
  const nlohmann::json models = nlohmann::json::parse(http_request(port, "GET", "/v1/models").body);
  ASSERT_EQ(models["models"].size(), 2u);
  EXPECT_EQ(models["models"][0]["name"], "default");
  EXPECT_EQ(models["models"][1]["name"], "cond");
  const std::string before = http_request(port, "POST", "/v1/models/default/sample", "{\"n\": 2}").body;

  vae::Checkpoint other = vae_test::infer_checkpoint(0, true);
  for (float& p : other.params) p *= -1.0f;
  vae::save_checkpoint(a_, other);
  ::kill(pid_, SIGHUP);
  std::string after = before;
  for (int i = 0; i < 500 && after == before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    after = http_request(port, "POST", "/v1/models/default/sample", "{\"n\": 2}").body;
  }
  EXPECT_NE(after, before) << "SIGHUP did not reload the checkpoint";

  EXPECT_EQ(stop(SIGTERM), 0);
  const std::string err = vae_test::read_bytes(tmp_.file("err"));
  EXPECT_NE(err.find("SIGHUP: checkpoints reloaded"), std::string::npos) << err;
  EXPECT_NE(err.find("SIGTERM: finishing requests in flight"), std::string::npos) << err;
  EXPECT_NE(err.find("\"GET /healthz\" 200"), std::string::npos) << err;
  EXPECT_NE(err.find("\"POST /v1/models/default/sample\" 200"), std::string::npos) << err;
}

// The access log is written in batches, but a request's line reaches stderr within 100 ms of
// it while the service runs (waited for here up to 5 s), not only at the stop.
TEST_F(ServeCommand, AccessLogLineWhileServing) {
  const int port = start({a_});
  ASSERT_GT(port, 0);
  ASSERT_EQ(http_request(port, "GET", "/readyz").status, 200);
  std::string err;
  for (int i = 0; i < 500 && err.find("\"GET /readyz\" 200") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    err = vae_test::read_bytes(tmp_.file("err"));
  }
  EXPECT_NE(err.find("\"GET /readyz\" 200"), std::string::npos) << err;
  EXPECT_EQ(stop(SIGTERM), 0);
}

TEST_F(ServeCommand, FailedReloadKeepsServing) {
  const int port = start({a_, "--quiet"});
  ASSERT_GT(port, 0);
  vae_test::write_bytes(a_, "not a checkpoint");
  ::kill(pid_, SIGHUP);
  for (int i = 0; i < 500; ++i) {
    if (vae_test::read_bytes(tmp_.file("err")).find("reload failed") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(vae_test::read_bytes(tmp_.file("err")).find("SIGHUP: reload failed, still serving the old models"),
            std::string::npos);
  EXPECT_EQ(http_request(port, "POST", "/v1/models/default/sample", "{\"n\": 1}").status, 200);
  EXPECT_EQ(stop(SIGINT), 0);
  EXPECT_EQ(vae_test::read_bytes(tmp_.file("err")).find("\"POST"), std::string::npos);  // --quiet
}

// The open-connections gauge of /metrics, or -1.
long open_connections(int port) {
  const std::string m = http_request(port, "GET", "/metrics").body;
  const size_t at = m.find("\nvae_http_connections_open ");
  return at == std::string::npos ? -1 : std::stol(m.substr(at + 27));
}

// 10,000 connections opened and left idle: /healthz still answers within 100 ms. The server
// holds one descriptor per connection and this test one more: both need the limit raised.
TEST_F(ServeCommand, TenThousandIdleConnections) {
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  const rlim_t want = 10000 + 200;
  if (lim.rlim_cur < want && lim.rlim_max >= want) {
    lim.rlim_cur = want;
    ::setrlimit(RLIMIT_NOFILE, &lim);  // the server, started below, inherits it
  }
  ::getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < want) GTEST_SKIP() << "open-file limit " << lim.rlim_cur << " < " << want << " (ulimit -n)";
  const int port = start({a_, "--quiet"});
  ASSERT_GT(port, 0);
  std::vector<int> idle;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 10000; ++i) {
    const int fd = vae_test::connect_loopback(port);
    if (fd < 0) break;
    idle.push_back(fd);
  }
  EXPECT_EQ(idle.size(), 10000u);
  long open = 0;
  for (int i = 0; i < 1000 && (open = open_connections(port)) < 10000; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GE(open, 10000);  // the /metrics request's own connection may be counted too
  double worst = 0;
  for (int i = 0; i < 20; ++i) {
    const auto t = std::chrono::steady_clock::now();
    EXPECT_EQ(http_request(port, "GET", "/healthz").status, 200);
    worst = std::max(worst, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
  }
  std::printf("[idle] %zu connections open in %.2f s; slowest of 20 /healthz: %.2f ms\n", idle.size(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), worst);
  EXPECT_LT(worst, 100.0);
  for (int fd : idle) ::close(fd);
  EXPECT_EQ(stop(SIGTERM), 0);
}

// --data: the explorer's map holds the test rows in data units, so that encoding the map's rows
// through the API gives back their μ, and the classes with their labels.
TEST_F(ServeCommand, DataForTheExplorerMap) {
  const std::string data = vae_cli_test::write_data(tmp_.file("data"));
  const std::string run = tmp_.file("run");
  const vae_cli_test::RunResult trained = vae_run({"train", "--data", data, "--out", run, "--hidden", "8", "--latent",
                                                   "3", "--epochs", "1", "--batch-size", "16", "--threads", "1"});
  ASSERT_EQ(trained.code, 0) << trained.err;
  const int port = start({run, "--data", data, "--quiet"});
  ASSERT_GT(port, 0);
  const nlohmann::json map = nlohmann::json::parse(http_request(port, "GET", "/v1/models/default/map").body);
  ASSERT_EQ(map["points"], 16);  // the tiny set's test split
  EXPECT_EQ(map["axes"]["kind"], "pca");
  EXPECT_EQ(map["labels"].size(), 16u);
  EXPECT_EQ(map["labels"][1], 1);
  // the same 16 rows in one request (one batch, as the map encoded them: the same bits)
  const nlohmann::json x = {{"x", map["x"]}};
  const nlohmann::json enc = nlohmann::json::parse(http_request(port, "POST", "/v1/models/default/encode", x.dump()).body);
  EXPECT_EQ(enc["mu"], map["mu"]);
  EXPECT_EQ(stop(SIGTERM), 0);
}

// --threads: the workers; 0 or absent takes $VAE_THREADS, as every computing command does, and
// a bad count in either is a usage error (exit 2) naming it.
TEST_F(ServeCommand, ThreadsAndVaeThreads) {
  const auto workers = [this] {
    std::smatch m;
    const std::string out = vae_test::read_bytes(tmp_.file("out"));
    return std::regex_search(out, m, std::regex("\\(1 model, ([0-9]+) workers?\\)")) ? std::stoi(m[1]) : -1;
  };
  ASSERT_GT(start({a_, "--quiet"}, {"VAE_THREADS=3"}, false), 0);
  EXPECT_EQ(workers(), 3);
  EXPECT_EQ(stop(SIGTERM), 0);
  ASSERT_GT(start({a_, "--quiet", "--threads", "0"}, {"VAE_THREADS=5"}, false), 0);
  EXPECT_EQ(workers(), 5);
  EXPECT_EQ(stop(SIGTERM), 0);
  ASSERT_GT(start({a_, "--quiet", "--threads", "2"}, {"VAE_THREADS=5"}, false), 0);
  EXPECT_EQ(workers(), 2);  // the option wins
  EXPECT_EQ(stop(SIGTERM), 0);

  const vae_cli_test::RunResult env = vae_run({"serve", a_, "--port", "0"}, {"VAE_THREADS=many"});
  EXPECT_EQ(env.code, 2);
  EXPECT_NE(env.err.find("VAE_THREADS: expected a whole number of threads, got 'many'"), std::string::npos) << env.err;
  const vae_cli_test::RunResult negative = vae_run({"serve", a_, "--port", "0", "--threads", "-1"});
  EXPECT_EQ(negative.code, 2);
  EXPECT_NE(negative.err.find("--threads: must be >= 0, got -1"), std::string::npos) << negative.err;
  const vae_cli_test::RunResult huge = vae_run({"serve", a_, "--port", "0", "--threads", "100000"});
  EXPECT_EQ(huge.code, 2);
  EXPECT_NE(huge.err.find("--threads: at most"), std::string::npos) << huge.err;
}

TEST_F(ServeCommand, ExitCodes) {
  EXPECT_EQ(vae_run({"serve"}).code, 2);
  EXPECT_EQ(vae_run({"serve", a_, "--model", "nameless"}).code, 2);
  EXPECT_EQ(vae_run({"serve", a_, "--model", "default=" + b_}).code, 2);
  EXPECT_EQ(vae_run({"serve", a_, "--port", "70000"}).code, 2);
  EXPECT_EQ(vae_run({"serve", a_, "--queue", "0"}).code, 2);
  const vae_cli_test::RunResult missing = vae_run({"serve", tmp_.file("missing.safetensors")});
  EXPECT_EQ(missing.code, 1);
  const vae_cli_test::RunResult host = vae_run({"serve", a_, "--host", "not-an-ip"});
  EXPECT_EQ(host.code, 1);
  EXPECT_NE(host.err.find("not-an-ip:8080: not an IP address"), std::string::npos) << host.err;
  const int port = start({a_});
  ASSERT_GT(port, 0);
  const vae_cli_test::RunResult busy = vae_run({"serve", a_, "--port", std::to_string(port)});
  EXPECT_EQ(busy.code, 1);
  EXPECT_NE(busy.err.find("cannot listen"), std::string::npos) << busy.err;
}

}  // namespace
