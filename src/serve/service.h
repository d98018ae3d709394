// The HTTP service's answers, apart from any socket: a request (method, path, query, content
// type, body) in, a response (status, content type, body) out. http_server.h carries them over
// TCP; tests call handle() directly as well.
//
// Routes (docs/serving.md):
//   GET  /healthz /readyz /metrics /v1/models /v1/models/{name} /  (the explorer page)
//        /favicon.ico (204: there is none)
//   GET  /v1/models/{name}/map         the --data rows encoded, for the explorer
//   POST /v1/models/{name}/{encode,decode,sample,reconstruct,score}
// Statuses: 200; 400 malformed body; 404 no such route or model; 405 a known route with any other
// method, HEAD and unknown tokens included (Allow names the one it takes); 415 a body that is neither JSON nor NPY; 422 well-formed
// values that do not fit the model (shape, non-finite, label, limits); 503 not ready. Bad input
// is never a 5xx.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "serve/metrics.h"
#include "vae/dataset.h"

namespace vae::serve {

/// The limits a request is held to; the HTTP layer applies the transport ones.
struct ServeLimits {
  size_t max_body_bytes = 16u << 20;  ///< request body, bytes (413 beyond)
  size_t max_batch = 4096;            ///< rows of one request, and n of a sample (422 beyond)
  int max_k = 1000;                   ///< importance samples of one score request
  size_t queue_length = 256;          ///< compute requests waiting for a worker (503 beyond)
  int read_timeout_s = 30;            ///< to read a whole request
  int write_timeout_s = 30;           ///< to write a whole answer
  size_t max_connections = 20000;     ///< open connections; more are closed at once
  size_t max_headers = 64;            ///< header fields of one request (431 beyond)
};

/// A served checkpoint: its name in the URLs and its file.
struct ModelSource {
  std::string name, path;
};

struct HttpRequest {
  std::string method;  ///< "GET", "POST", ...
  std::string path;    ///< "/v1/models/default/encode"
  std::string query;   ///< after '?', or empty
  std::string content_type, accept;
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string allow;  ///< the Allow header of a 405
};

class Service {
 public:
  /// Loads every checkpoint (vae::Error "<path>: <what>" when one cannot be read). `data`,
  /// when it has rows, is what the explorer's map shows, encoded by each model that fits it;
  /// `class_names` name its labels.
  Service(std::vector<ModelSource> sources, ServeLimits limits, Dataset data = {},
          std::vector<std::string> class_names = {});
  ~Service();

  /// Reads every checkpoint again and swaps the new set in at once; requests already running
  /// finish on the old models. On any failure the old set stays and vae::Error says why.
  void reload();

  HttpResponse handle(const HttpRequest& req) const;
  /// Whether `req` runs a model (a worker's job) rather than answering at once.
  static bool computes(const HttpRequest& req);
  /// The route's pattern for metrics and logs ("/v1/models/{name}/encode"), or "other".
  static std::string route_of(const std::string& path);

  /// /readyz answers 503 once the service is stopping.
  void set_stopping() { stopping_.store(true); }
  Metrics& metrics() const { return metrics_; }
  const ServeLimits& limits() const { return limits_; }

  struct Served;
  struct Registry;

 private:
  std::shared_ptr<const Registry> registry() const;
  HttpResponse model_route(const Registry& reg, const HttpRequest& req) const;

  std::vector<ModelSource> sources_;
  ServeLimits limits_;
  Dataset data_;
  std::vector<std::string> class_names_;
  mutable std::mutex registry_mutex_;
  std::shared_ptr<const Registry> registry_;
  std::atomic<bool> stopping_{false};
  mutable Metrics metrics_;
};

}  // namespace vae::serve
