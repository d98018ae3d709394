// Throughput and latency of `vae serve` against the inference API it serves (not a test):
//
//   build/bench/bench_serve [SECONDS_PER_CASE]      (default 3)
//
// The default model (784-400-20 MLP, random weights: speed does not depend on the values) is
// served in this process on a loopback port with one worker per core; clients are threads of
// this process too, each with one kept-alive connection, sending POST /v1/models/m/encode:
//   single  one example as JSON, the answer JSON
//   b64     64 examples as NPY (application/x-npy), the answer NPY
// at 1, 8 and 32 concurrent clients. For each case: requests/s, examples/s, p50 and p99 latency.
// The in-process figure is vae::Model::encode on batches of 64 from as many threads as the
// server has workers; "served / in-process" compares examples/s at batch 64. Clients, the I/O
// thread and the workers share the machine's cores, as they would on one host.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "serve/http_server.h"
#include "serve/service.h"
#include "../tests/serve/http_client.h"
#include "../tests/test_util.h"
#include "vae/checkpoint.h"
#include "vae/infer.h"
#include "vae/model.h"
#include "vae/npy.h"
#include "vae/rng.h"
#include "vae/runtime.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string default_checkpoint(const std::string& path) {
  vae::Checkpoint c;  // ModelConfig's defaults: 784-400-20, Bernoulli
  vae::Vae<float> model(c.model, 1);
  vae::Rng rng(1);
  model.init_params(rng);
  c.params.assign(model.params(), model.params() + model.num_params());
  vae::save_checkpoint(path, c);
  return path;
}

std::vector<float> pixels(size_t n) {
  vae::Rng rng(3);
  std::vector<float> x(n * 784);
  for (float& v : x) v = static_cast<float>(rng.uniform());
  return x;
}

// Examples per second of m.encode at batch 64 from `threads` threads for `seconds`.
double in_process_rate(const vae::Model& m, int threads, double seconds) {
  const std::vector<float> x = pixels(64);
  std::atomic<long> rows{0};
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      std::vector<float> mu(64 * 20), lv(64 * 20);
      while (Clock::now() < end) {
        m.encode({x.data(), 64, 784}, {mu.data(), 64, 20}, {lv.data(), 64, 20});
        rows += 64;
      }
    });
  for (auto& t : pool) t.join();
  return rows.load() / seconds;
}

struct CaseResult {
  double rps = 0, examples_per_s = 0, p50_ms = 0, p99_ms = 0;
  long errors = 0;
};

CaseResult run_case(int port, int clients, bool batch, double seconds) {
  const std::vector<float> x = pixels(batch ? 64 : 1);
  std::string body, type = "application/json", accept = "application/json";
  if (batch) {
    body = vae::npy_bytes(x.data(), {64, 784});
    type = accept = "application/x-npy";
  } else {
    body = "{\"x\": [[";
    for (size_t j = 0; j < 784; ++j) body += (j ? "," : "") + std::to_string(x[j]);
    body += "]]}";
  }
  const std::string req = "POST /v1/models/m/encode HTTP/1.1\r\nHost: x\r\nContent-Type: " + type +
                          "\r\nAccept: " + accept + "\r\nContent-Length: " + std::to_string(body.size()) +
                          "\r\n\r\n" + body;
  std::vector<std::vector<double>> lat(clients);
  std::atomic<long> errors{0};
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      const int fd = vae_test::connect_loopback(port);
      while (Clock::now() < end) {
        const auto t0 = Clock::now();
        if (!vae_test::send_all(fd, req) || vae_test::read_answer(fd).status != 200) {
          ++errors;
          break;
        }
        lat[c].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
      ::close(fd);
    });
  for (auto& t : threads) t.join();
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  CaseResult r;
  r.errors = errors.load();
  if (all.empty()) return r;
  r.rps = all.size() / seconds;
  r.examples_per_s = r.rps * (batch ? 64 : 1);
  r.p50_ms = all[all.size() / 2];
  r.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  vae_test::TempDir tmp;
  const std::string ckpt = default_checkpoint(tmp.file("m.safetensors"));
  const int workers = vae::hardware_threads();
  vae::set_num_threads(1);
  const vae::Model lib = vae::Model::load(ckpt);
  const double in_process = in_process_rate(lib, workers, seconds);

  vae::serve::Service service({{"m", ckpt}}, {});
  vae::serve::ServerOptions opt;
  opt.port = 0;
  opt.workers = workers;
  vae::serve::HttpServer server(service, opt);
  std::thread loop([&] { server.run(); });

  std::printf("model 784-400-20, %d workers, %.1f s per case\n", workers, seconds);
  std::printf("in-process encode, batch 64, %d threads: %.0f examples/s\n\n", workers, in_process);
  std::printf("| request | clients | requests/s | examples/s | p50 ms | p99 ms | served / in-process | errors |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (bool batch : {false, true})
    for (int clients : {1, 8, 32}) {
      const CaseResult r = run_case(server.port(), clients, batch, seconds);
      char frac[32] = "";
      if (batch) std::snprintf(frac, sizeof frac, "%.0f%%", 100.0 * r.examples_per_s / in_process);
      std::printf("| %s | %d | %.0f | %.0f | %.3f | %.3f | %s | %ld |\n", batch ? "batch 64 (NPY)" : "single (JSON)",
                  clients, r.rps, r.examples_per_s, r.p50_ms, r.p99_ms, frac, r.errors);
      std::fflush(stdout);
    }
  server.stop();
  loop.join();
  return 0;
}
