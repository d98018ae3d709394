// Throughput and latency of `vae serve` against the inference API it serves (not a test):
//
//   build/bench/bench_serve [SECONDS_PER_CASE [single|b64|b64json [CLIENTS]]]  (default 3, all)
//
// The default model (784-400-20 MLP, random weights: speed does not depend on the values) is
// served in this process on a loopback port with one worker per core; the clients are in this
// process too, each with one kept-alive connection, sending POST /v1/models/m/encode and waiting
// for the whole answer before the next (one thread drives all connections through epoll, as load
// generators such as wrk do; VAE_BENCH_SERVE_CLIENTS=threads gives each client its own thread
// and blocking calls instead):
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
#include <fcntl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cerrno>
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

// The request of a case: POST /v1/models/m/encode with one example as JSON, or 64 as NPY or JSON.
std::string encode_request(Kind kind) {
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
  return "POST /v1/models/m/encode HTTP/1.1\r\nHost: x\r\nContent-Type: " + type +
         "\r\nAccept: " + accept + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

// What the clients of a case recorded: each answer's latency (ms) per client, their own CPU time.
struct ClientLog {
  std::vector<std::vector<double>> lat;
  double cpu_seconds = 0;
  long errors = 0;
};

// One thread per client, each with one kept-alive connection and blocking calls.
ClientLog thread_clients(int port, int clients, const std::string& req, Clock::time_point end) {
  ClientLog log;
  log.lat.resize(clients);
  std::vector<double> client_cpu(clients, 0.0);
  std::atomic<long> errors{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      ::pthread_setname_np(::pthread_self(), "client");  // for profilers: perf report --sort comm
      const double own0 = thread_cpu_seconds();
      log.lat[c].reserve(1 << 16);
      const int fd = vae_test::connect_loopback(port);
      while (Clock::now() < end) {
        const auto t0 = Clock::now();
        if (!vae_test::send_all(fd, req) || vae_test::read_answer(fd).status != 200) {
          ++errors;
          break;
        }
        log.lat[c].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
      ::close(fd);
      client_cpu[c] = thread_cpu_seconds() - own0;
    });
  for (auto& t : threads) t.join();
  for (double t : client_cpu) log.cpu_seconds += t;
  log.errors = errors.load();
  return log;
}

// One connection of the event-loop client: its request's bytes sent so far, the answer's bytes
// received so far, and when the request started.
struct Connection {
  int fd = -1;
  size_t sent = 0;
  std::string in;
  Clock::time_point t0;
};

// The bytes of a whole answer at the start of `in` (head and Content-Length body), its status in
// *status; 0 while incomplete.
size_t whole_answer(const std::string& in, int* status) {
  const size_t head_end = in.find("\r\n\r\n");
  if (head_end == std::string::npos) return 0;
  const size_t cl = in.find("Content-Length: ");
  const size_t body = cl < head_end ? std::stoul(in.substr(cl + 16, 20)) : 0;
  if (in.size() < head_end + 4 + body) return 0;
  *status = in.size() > 12 ? std::atoi(in.c_str() + 9) : 0;
  return head_end + 4 + body;
}

// Sends what is left of the request; false on a closed connection. Waits for writability
// (EPOLLOUT) while the socket's buffer is full, for readability once all is sent.
bool send_more(int ep, Connection& c, const std::string& req) {
  while (c.sent < req.size()) {
    const ssize_t n = ::send(c.fd, req.data() + c.sent, req.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EAGAIN) break;
    if (n <= 0) return false;
    c.sent += static_cast<size_t>(n);
  }
  epoll_event e{};
  e.events = c.sent < req.size() ? EPOLLOUT : EPOLLIN;
  e.data.ptr = &c;
  return ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &e) == 0;
}

// Reads what has arrived; true when the answer is whole (its latency logged, the next request
// started unless the time is up), false on an error or a closed connection.
bool receive(int ep, Connection& c, const std::string& req, Clock::time_point end,
             std::vector<double>& lat, bool* done) {
  char chunk[65536];
  for (;;) {
    const ssize_t n = ::recv(c.fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EAGAIN) break;
    if (n <= 0) return false;
    c.in.append(chunk, static_cast<size_t>(n));
  }
  int status = 0;
  const size_t used = whole_answer(c.in, &status);
  if (used == 0) return true;
  if (status != 200 || used != c.in.size()) return false;
  const auto now = Clock::now();
  lat.push_back(std::chrono::duration<double, std::milli>(now - c.t0).count());
  c.in.clear();
  if (now >= end) return *done = true;
  c.sent = 0;
  c.t0 = now;
  return send_more(ep, c, req);
}

// One thread drives every client's connection through epoll, as load generators such as wrk
// do: each connection sends its request, waits for the whole answer, and sends the next.
ClientLog loop_clients(int port, int clients, const std::string& req, Clock::time_point end) {
  ClientLog log;
  log.lat.resize(1);
  log.lat[0].reserve(1 << 20);
  std::thread t([&] {
    ::pthread_setname_np(::pthread_self(), "client");
    const double own0 = thread_cpu_seconds();
    const int ep = ::epoll_create1(0);
    std::vector<Connection> conns(clients);
    int open = 0;
    for (Connection& c : conns) {
      c.fd = vae_test::connect_loopback(port);
      ::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK);
      epoll_event e{};
      e.data.ptr = &c;
      ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &e);
      c.t0 = Clock::now();
      if (send_more(ep, c, req)) ++open; else ++log.errors;
    }
    epoll_event ev[64];
    while (open > 0) {
      const int n = ::epoll_wait(ep, ev, 64, 1000);
      if (n <= 0) break;  // no answer for a second: counted below as errors
      for (int i = 0; i < n; ++i) {
        Connection& c = *static_cast<Connection*>(ev[i].data.ptr);
        bool done = false;
        const bool ok = (ev[i].events & EPOLLOUT) ? send_more(ep, c, req)
                                                  : receive(ep, c, req, end, log.lat[0], &done);
        if (ok && !done) continue;
        if (!ok) ++log.errors;
        ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        --open;
      }
    }
    log.errors += open;
    for (Connection& c : conns) ::close(c.fd);
    ::close(ep);
    log.cpu_seconds = thread_cpu_seconds() - own0;
  });
  t.join();
  return log;
}

CaseResult run_case(int port, int clients, Kind kind, double seconds, bool loop) {
  const bool batch = kind != Kind::Single;
  const std::string req = encode_request(kind);
  const double cpu0 = process_cpu_seconds();
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(seconds));
  const ClientLog log = loop ? loop_clients(port, clients, req, end)
                             : thread_clients(port, clients, req, end);
  const double cpu = process_cpu_seconds() - cpu0;
  const double clients_cpu = log.cpu_seconds;
  std::vector<double> all;
  for (auto& l : log.lat) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  CaseResult r;
  r.errors = log.errors;
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

namespace {

// The arguments of the usage line above; --help prints it, anything else wrong exits 2.
struct Args {
  double seconds = 3.0;
  std::string only;      // "" = every case
  int only_clients = 0;  // 0 = 1, 8 and 32
};

Args parse_args(int argc, char** argv) {
  const char* usage =
      "usage: bench_serve [SECONDS_PER_CASE [single|b64|b64json [CLIENTS]]]  (default 3, all)\n";
  Args a;
  auto fail = [&](const std::string& what) {
    std::fprintf(stderr, "bench_serve: %s\n%s", what.c_str(), usage);
    std::exit(2);
  };
  if (argc > 1 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::fputs(usage, stdout);
    std::exit(0);
  }
  if (argc > 4) fail("too many arguments");
  if (argc > 1) {
    char* end = nullptr;
    a.seconds = std::strtod(argv[1], &end);
    if (*end != '\0' || !(a.seconds > 0 && a.seconds <= 3600))
      fail(std::string("SECONDS_PER_CASE: expected a number of seconds in (0, 3600], got '") +
           argv[1] + "'");
  }
  if (argc > 2) {
    a.only = argv[2];
    if (a.only != "single" && a.only != "b64" && a.only != "b64json")
      fail("the case must be single, b64 or b64json, got '" + a.only + "'");
  }
  if (argc > 3) {
    char* end = nullptr;
    const long c = std::strtol(argv[3], &end, 10);
    if (*end != '\0' || c < 1 || c > 1024)
      fail(std::string("CLIENTS: expected a whole number in 1..1024, got '") + argv[3] + "'");
    a.only_clients = static_cast<int>(c);
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  const double seconds = args.seconds;
  const std::string only = args.only;
  const int only_clients = args.only_clients;
  const char* mode = std::getenv("VAE_BENCH_SERVE_CLIENTS");
  const bool event_loop = !(mode && std::string(mode) == "threads");
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

  std::printf("model 784-400-20, %d workers, %.1f s per case, clients: %s\n", workers, seconds,
              event_loop ? "one event-loop thread" : "one thread each");
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
      const CaseResult r = run_case(server.port(), clients, kind, seconds, event_loop);
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
