// Throughput and latency of `vae serve` against the inference API it serves (not a test):
//
//   build/bench/bench_serve [SECONDS_PER_CASE [single|b64|b64json [CLIENTS]]]  (default 3, all)
//
// The default model (784-400-20 MLP, random weights: speed does not depend on the values) is
// served in this process on a loopback port with one worker per core; clients are threads of
// this process too, each with one kept-alive connection, sending POST /v1/models/m/encode:
//   single  one example as JSON, the answer JSON
//   b64     64 examples as NPY (application/x-npy), the answer NPY
//   b64json 64 examples as JSON, the answer JSON (what NPY saves at this size)
// at 1, 8 and 32 concurrent clients. For each case: requests/s, examples/s, p50 and p99 latency.
// The in-process figure is vae::Model::encode on batches of 64 from as many threads as the
// server has workers, measured again just before each batch case (so that a change in the
// machine's load falls on both sides); "served / in-process" compares examples/s at batch 64. Clients, the I/O
// thread and the workers share the machine's cores, as they would on one host: so each case
// also gives the CPU time per request of the clients (their threads' own clocks) and of the
// server (the process's CPU time less the clients'), and "per server CPU" compares examples
// per second of server CPU with the in-process examples per second of CPU — the fraction the
// service would reach were its clients elsewhere.
#include <pthread.h>
#include <sys/resource.h>
#include <time.h>

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

double process_cpu_seconds();

// Examples per second of m.encode at batch 64 from `threads` threads for `seconds`, and per
// second of CPU time (*per_cpu).
double in_process_rate(const vae::Model& m, int threads, double seconds, double* per_cpu) {
  const double cpu0 = process_cpu_seconds();
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
  *per_cpu = rows.load() / (process_cpu_seconds() - cpu0);
  return rows.load() / seconds;
}

struct CaseResult {
  double rps = 0, examples_per_s = 0, p50_ms = 0, p99_ms = 0;
  double client_cpu_us = 0, server_cpu_us = 0;  // per request
  long errors = 0;
};

double thread_cpu_seconds() {
  timespec t{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

double process_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

enum class Kind { Single, Batch, BatchJson };

CaseResult run_case(int port, int clients, Kind kind, double seconds) {
  const bool batch = kind != Kind::Single;
  const size_t rows = batch ? 64 : 1;
  const std::vector<float> x = pixels(rows);
  std::string body, type = "application/json", accept = "application/json";
  if (kind == Kind::Batch) {
    body = vae::npy_bytes(x.data(), {64, 784});
    type = accept = "application/x-npy";
  } else {
    body = "{\"x\": [";
    for (size_t i = 0; i < rows; ++i) {
      body += i ? ",[" : "[";
      for (size_t j = 0; j < 784; ++j) body += (j ? "," : "") + std::to_string(x[i * 784 + j]);
      body += "]";
    }
    body += "]}";
  }
  const std::string req = "POST /v1/models/m/encode HTTP/1.1\r\nHost: x\r\nContent-Type: " + type +
                          "\r\nAccept: " + accept + "\r\nContent-Length: " + std::to_string(body.size()) +
                          "\r\n\r\n" + body;
  std::vector<std::vector<double>> lat(clients);
  std::vector<double> client_cpu(clients, 0.0);
  std::atomic<long> errors{0};
  const double cpu0 = process_cpu_seconds();
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      ::pthread_setname_np(::pthread_self(), "client");  // for profilers: perf report --sort comm
      const double own0 = thread_cpu_seconds();
      lat[c].reserve(1 << 16);
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
      client_cpu[c] = thread_cpu_seconds() - own0;
    });
  for (auto& t : threads) t.join();
  const double cpu = process_cpu_seconds() - cpu0;
  double clients_cpu = 0;
  for (double t : client_cpu) clients_cpu += t;
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
  r.client_cpu_us = 1e6 * clients_cpu / all.size();
  r.server_cpu_us = 1e6 * (cpu - clients_cpu) / all.size();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  const std::string only = argc > 2 ? argv[2] : "";
  const int only_clients = argc > 3 ? std::atoi(argv[3]) : 0;
  vae_test::TempDir tmp;
  const std::string ckpt = default_checkpoint(tmp.file("m.safetensors"));
  const int workers = vae::hardware_threads();
  vae::set_num_threads(1);
  const vae::Model lib = vae::Model::load(ckpt);
  double in_process_per_cpu = 0;
  double in_process = in_process_rate(lib, workers, seconds, &in_process_per_cpu);

  vae::serve::Service service({{"m", ckpt}}, {});
  vae::serve::ServerOptions opt;
  opt.port = 0;
  opt.workers = workers;
  vae::serve::HttpServer server(service, opt);
  std::thread loop([&] {
    ::pthread_setname_np(::pthread_self(), "io");
    server.run();
  });

  std::printf("model 784-400-20, %d workers, %.1f s per case\n", workers, seconds);
  std::printf("in-process encode, batch 64, %d threads: %.0f examples/s, %.0f per second of CPU\n\n", workers,
              in_process, in_process_per_cpu);
  std::printf("| request | clients | requests/s | examples/s | p50 ms | p99 ms | in-process examples/s | "
              "served / in-process | client CPU µs/req | server CPU µs/req | per server CPU | errors |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  const char* const names[] = {"single", "b64", "b64json"};
  const char* const labels[] = {"single (JSON)", "batch 64 (NPY)", "batch 64 (JSON)"};
  for (Kind kind : {Kind::Single, Kind::Batch, Kind::BatchJson})
    for (int clients : {1, 8, 32}) {
      const int k = static_cast<int>(kind);
      if ((!only.empty() && only != names[k]) || (only_clients && only_clients != clients)) continue;
      const bool batch = kind != Kind::Single;
      if (batch) in_process = in_process_rate(lib, workers, seconds, &in_process_per_cpu);
      const CaseResult r = run_case(server.port(), clients, kind, seconds);
      char frac[32] = "", per_cpu[32] = "", beside[32] = "";
      if (batch) {
        std::snprintf(beside, sizeof beside, "%.0f", in_process);
        std::snprintf(frac, sizeof frac, "%.0f%%", 100.0 * r.examples_per_s / in_process);
        std::snprintf(per_cpu, sizeof per_cpu, "%.0f%%", 100.0 * 64e6 / r.server_cpu_us / in_process_per_cpu);
      }
      std::printf("| %s | %d | %.0f | %.0f | %.3f | %.3f | %s | %s | %.0f | %.0f | %s | %ld |\n",
                  labels[k], clients, r.rps, r.examples_per_s, r.p50_ms, r.p99_ms, beside, frac,
                  r.client_cpu_us, r.server_cpu_us, per_cpu, r.errors);
      std::fflush(stdout);
    }
  server.stop();
  loop.join();
  return 0;
}
