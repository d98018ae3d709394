// The service's counters in the Prometheus text format (version 0.0.4), for GET /metrics:
//   vae_http_requests_total{route, status}       counter
//   vae_http_request_duration_seconds{route}     histogram (buckets 0.5 ms .. 10 s)
//   vae_http_requests_in_flight                  gauge
//   vae_http_connections_open                    gauge
//   vae_model_info{name, likelihood, latent, input_dim, classes}   gauge, 1 per served model
// Thread-safe: any thread records, any thread renders.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace vae::serve {

class Metrics {
 public:
  /// Upper bounds of the latency buckets, seconds (the +Inf bucket follows them).
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,  0.5,   1.0,  10.0};

  /// One finished request: `route` is the route's pattern ("/v1/models/{name}/encode"), never
  /// the raw path, so the label set stays small.
  void record(const std::string& route, int status, double seconds);
  void begin_request() { in_flight_.fetch_add(1); }
  void end_request() { in_flight_.fetch_sub(1); }
  long in_flight() const { return in_flight_.load(); }
  void connection_opened() { connections_.fetch_add(1); }
  void connection_closed() { connections_.fetch_sub(1); }
  long connections() const { return connections_.load(); }

  /// The exposition text; `model_info` lines (vae_model_info samples) are appended as given.
  std::string render(const std::string& model_info) const;

 private:
  struct Histogram {
    std::array<uint64_t, kBuckets.size() + 1> counts{};  // per bucket, not cumulative
    double sum = 0;
    uint64_t count = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  std::atomic<long> in_flight_{0};
  std::atomic<long> connections_{0};
};

/// A Prometheus label value: backslash, double quote and line feed escaped.
std::string prometheus_label(const std::string& value);

}  // namespace vae::serve
