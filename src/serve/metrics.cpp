#include "serve/metrics.h"

#include <cstdio>

namespace vae::serve {

void Metrics::record(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{route, status}];
  Histogram& h = latency_[route];
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  ++h.counts[b];
  h.sum += seconds;
  ++h.count;
}

std::string Metrics::render(const std::string& model_info) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  char buf[96];
  out += "# HELP vae_http_requests_total Requests answered, by route and status.\n";
  out += "# TYPE vae_http_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    out += "vae_http_requests_total{route=\"" + prometheus_label(key.first) + "\",status=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
  out += "# HELP vae_http_request_duration_seconds Time from a request's last byte read to its answer.\n";
  out += "# TYPE vae_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    const std::string label = "route=\"" + prometheus_label(route) + "\"";
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= kBuckets.size(); ++b) {
      cumulative += h.counts[b];
      if (b < kBuckets.size()) std::snprintf(buf, sizeof buf, "%g", kBuckets[b]);
      out += "vae_http_request_duration_seconds_bucket{" + label + ",le=\"" +
             (b < kBuckets.size() ? std::string(buf) : "+Inf") + "\"} " + std::to_string(cumulative) + "\n";
    }
    std::snprintf(buf, sizeof buf, "%.9g", h.sum);
    out += "vae_http_request_duration_seconds_sum{" + label + "} " + buf + "\n";
    out += "vae_http_request_duration_seconds_count{" + label + "} " + std::to_string(h.count) + "\n";
  }
  out += "# HELP vae_http_requests_in_flight Requests read and not yet answered.\n";
  out += "# TYPE vae_http_requests_in_flight gauge\n";
  out += "vae_http_requests_in_flight " + std::to_string(in_flight_.load()) + "\n";
  out += "# HELP vae_http_connections_open Connections open, idle ones included.\n";
  out += "# TYPE vae_http_connections_open gauge\n";
  out += "vae_http_connections_open " + std::to_string(connections_.load()) + "\n";
  out += "# HELP vae_model_info The models served (value 1), described by their labels.\n";
  out += "# TYPE vae_model_info gauge\n";
  return out + model_info;
}

std::string prometheus_label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace vae::serve
