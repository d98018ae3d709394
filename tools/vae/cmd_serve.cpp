// vae serve: the HTTP service (src/serve) for one or more checkpoints — encode, decode, sample,
// reconstruct and score under /v1, /healthz, /readyz, /metrics, and the latent explorer at /.
// Binds to loopback unless --host says otherwise; --port 0 picks a free port. Prints
// "listening on http://HOST:PORT" on stdout once it accepts connections, one access-log line per
// request on stderr (written in batches, at most 100 ms after the request). SIGTERM or SIGINT: stops accepting, answers the requests already read, exits
// 0. SIGHUP: reads every checkpoint again and swaps them in at once (the old ones stay when one
// cannot be read).
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include "cli.h"
#include "serve/http_server.h"
#include "serve/service.h"
#include "vae/checkpoint.h"
#include "vae/error.h"
#include "vae/runtime.h"
#include "viz/viz.h"

namespace vae_cli {

namespace {

struct ServeArgs {
  std::string checkpoint;
  std::vector<std::string> models;  // NAME=CKPT
  std::string host = "127.0.0.1";
  int port = 8080;
  int threads = 0;
  std::string data, split = "test";
  vae::serve::ServeLimits limits;
  bool quiet = false;
};

std::vector<vae::serve::ModelSource> model_sources(const ServeArgs& a) {
  std::vector<vae::serve::ModelSource> out;
  if (!a.checkpoint.empty()) out.push_back({"default", checkpoint_in(a.checkpoint)});
  for (const std::string& m : a.models) {
    const size_t eq = m.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == m.size())
      throw UsageError("--model: expected NAME=CKPT, got '" + m + "'");
    const std::string name = m.substr(0, eq);
    if (name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != std::string::npos)
      throw UsageError("--model: NAME may hold letters, digits, '_', '.' and '-', got '" + name + "'");
    for (const auto& s : out)
      if (s.name == name) throw UsageError("--model: the name '" + name + "' is given twice");
    out.push_back({name, checkpoint_in(m.substr(eq + 1))});
  }
  if (out.empty()) throw UsageError("give a checkpoint (CKPT) or --model NAME=CKPT");
  return out;
}

void check_limits(const ServeArgs& a) {
  const auto& l = a.limits;
  if (a.port < 0 || a.port > 65535) throw UsageError("--port: must be in 0..65535, got " + std::to_string(a.port));
  if (l.max_body_bytes < 1024) throw UsageError("--max-body: must be >= 1024 bytes");
  if (l.max_batch < 1) throw UsageError("--max-batch: must be >= 1");
  if (l.max_k < 0) throw UsageError("--max-k: must be >= 0");
  if (l.queue_length < 1) throw UsageError("--queue: must be >= 1");
  if (l.read_timeout_s < 1 || l.write_timeout_s < 1) throw UsageError("--read-timeout, --write-timeout: must be >= 1 second");
  if (l.max_connections < 1) throw UsageError("--max-connections: must be >= 1");
}

// The --data rows in data units (load_split_for scales them; the service's models scale what
// they are given), with their class names.
vae::Dataset explorer_data(const ServeArgs& a, const std::string& first_checkpoint,
                           std::vector<std::string>* names) {
  if (a.data.empty()) return {};
  const vae::Checkpoint ckpt = vae::load_checkpoint(first_checkpoint);
  vae::Dataset d = load_split_for(ckpt, a.data, a.split);
  if (d.n > 2000) {
    d.n = 2000;
    d.x.resize(d.n * d.d);
    if (!d.labels.empty()) d.labels.resize(d.n);
  }
  ckpt.scaler.invert(d.x.data(), d.n);
  *names = !ckpt.class_names.empty() ? ckpt.class_names
           : a.data == "fashion-mnist" ? vae::fashion_mnist_class_names()
                                       : d.class_names;
  return d;
}

// stderr, where the log goes, is unbuffered: one write(2) per line. Access-log lines (one per
// request, from the I/O thread) are gathered instead and written together once 64 KiB have
// gathered, by flush() every 100 ms (the signal thread) and at exit; any other message is
// written at once, after the lines gathered before it.
class ServeLog {
 public:
  void access(const std::string& line) {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_ += line;
    pending_ += '\n';
    if (pending_.size() >= kFlushBytes) write_pending();
  }
  void message(const std::string& line) {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_ += line;
    pending_ += '\n';
    write_pending();
  }
  void flush() {
    std::lock_guard<std::mutex> lock(mutex_);
    write_pending();
  }

 private:
  static constexpr size_t kFlushBytes = 64u << 10;
  void write_pending() {
    if (pending_.empty()) return;
    std::fwrite(pending_.data(), 1, pending_.size(), stderr);
    pending_.clear();
  }
  std::mutex mutex_;
  std::string pending_;
};

// Signals arrive through a pipe: the handler (run by whichever thread the kernel picks, the
// BLAS library's own threads included) only writes the signal's number into it, and
// handle_signals reads them on a thread of its own.
int g_signal_pipe[2] = {-1, -1};

extern "C" void on_serve_signal(int sig) {
  const int saved = errno;
  const unsigned char byte = static_cast<unsigned char>(sig);
  [[maybe_unused]] const ssize_t n = ::write(g_signal_pipe[1], &byte, 1);
  errno = saved;
}

void install_signal_handlers() {
  if (::pipe(g_signal_pipe) != 0) throw vae::Error(std::string("cannot create a pipe: ") + std::strerror(errno));
  struct sigaction sa = {};
  sa.sa_handler = on_serve_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int s : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(s, &sa, nullptr);
}

// SIGHUP: reload; SIGTERM or SIGINT: stop the server, and return. Between signals, the access
// log's gathered lines are written every 100 ms.
void handle_signals(vae::serve::Service& service, vae::serve::HttpServer& server, ServeLog& log) {
  for (;;) {
    pollfd p{g_signal_pipe[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, 100);
    if (ready <= 0) {  // the 100 ms passed (or a signal interrupted the wait)
      log.flush();
      continue;
    }
    unsigned char sig = 0;
    const ssize_t n = ::read(g_signal_pipe[0], &sig, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n == 1 && sig == SIGHUP) {
      try {
        service.reload();
        log.message("vae: SIGHUP: checkpoints reloaded");
      } catch (const vae::Error& e) {
        log.message(std::string("vae: SIGHUP: reload failed, still serving the old models: ") + e.what());
      }
      continue;
    }
    log.message(std::string("vae: ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
                ": finishing requests in flight, then stopping");
    server.stop();
    return;
  }
}

int run_serve(const ServeArgs& a) {
  check_limits(a);
  apply_threads(a.threads);
  const int workers = vae::num_threads();
  vae::set_num_threads(1);  // one core per worker (vae/infer.h, Threads)
  const std::vector<vae::serve::ModelSource> sources = model_sources(a);
  std::vector<std::string> names;
  vae::Dataset data = explorer_data(a, sources.front().path, &names);
  vae::serve::Service service(sources, a.limits, std::move(data), names);

  install_signal_handlers();
  ServeLog log;
  vae::serve::ServerOptions opt;
  opt.host = a.host;
  opt.port = a.port;
  opt.workers = workers;
  if (!a.quiet) opt.access_log = [&log](const std::string& line) { log.access(line); };
  vae::serve::HttpServer server(service, opt);
  std::printf("listening on http://%s:%d (%zu model%s, %d worker%s)\n", a.host.c_str(), server.port(),
              sources.size(), sources.size() == 1 ? "" : "s", workers, workers == 1 ? "" : "s");
  std::fflush(stdout);
  std::thread signals([&] { handle_signals(service, server, log); });
  server.run();
  signals.join();
  log.flush();
  return 0;
}

}  // namespace

Command add_serve(CLI::App& root) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* app = root.add_subcommand(
      "serve", "Serve models over HTTP: JSON/NPY encode, decode, sample, reconstruct, score under /v1; "
               "/healthz, /readyz, /metrics; the latent explorer at / (docs/serving.md)");
  app->add_option("CKPT", args->checkpoint, "checkpoint (or run folder) served as the model 'default'");
  app->add_option("--model", args->models, "NAME=CKPT: also serve CKPT as NAME (repeat for more)");
  app->add_option("--host", args->host, "address to bind (127.0.0.1: this machine only; 0.0.0.0: all)");
  app->add_option("--port", args->port, "TCP port (0 = any free port, printed at start)");
  app->add_option("--threads", args->threads,
                  "workers that run models, one core each (0 = $VAE_THREADS when set, else all " +
                      std::to_string(vae::hardware_threads()) + " cores; at most 8 per core)");
  app->add_option("--data", args->data, "data whose encodings the explorer page maps (first 2000 rows)");
  app->add_option("--split", args->split, "split of --data: test, train or val");
  app->add_option("--max-body", args->limits.max_body_bytes, "largest request body, bytes (413 beyond)");
  app->add_option("--max-batch", args->limits.max_batch, "most rows in one request, and most samples (422 beyond)");
  app->add_option("--max-k", args->limits.max_k, "most importance samples of one score request (422 beyond)");
  app->add_option("--queue", args->limits.queue_length, "requests waiting for a worker (503 beyond)");
  app->add_option("--read-timeout", args->limits.read_timeout_s, "seconds to read a whole request, or to wait for the next one");
  app->add_option("--write-timeout", args->limits.write_timeout_s, "seconds to write a whole answer");
  app->add_option("--max-connections", args->limits.max_connections, "open connections (more are closed at once)");
  app->add_option("--max-headers", args->limits.max_headers, "header fields of one request (431 beyond)");
  app->add_flag("--quiet", args->quiet, "no access log");
  return {app, [args] { return run_serve(*args); }};
}

}  // namespace vae_cli
