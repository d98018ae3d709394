// The service's routes over vae::Model (include/vae/infer.h). Legend: B rows of a request,
// D data size, Z latent size, S posterior samples per row.
#include "serve/service.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "io/png.h"
#include "serve/codec.h"
#include "serve/explorer.h"
#include "vae/checkpoint.h"
#include "vae/error.h"
#include "vae/infer.h"
#include "vae/npy.h"
#include "vae/rng.h"
#include "viz/viz.h"

namespace vae::serve {

using nlohmann::json;

// A loaded model with what its routes tell about it, made once per (re)load.
struct Service::Served {
  std::string name, path;
  Model model;
  Scaler scaler;
  std::vector<std::string> class_names;
  std::string info;       // the JSON of GET /v1/models/{name}
  std::string map;        // the JSON of GET /v1/models/{name}/map
  std::string info_line;  // its vae_model_info sample
  explicit Served(const Checkpoint& c) : model(c), scaler(c.scaler), class_names(c.class_names) {}
};

struct Service::Registry {
  std::vector<std::unique_ptr<Served>> models;
  const Served* find(const std::string& name) const {
    for (const auto& m : models)
      if (m->name == name) return m.get();
    return nullptr;
  }
};

namespace {

// ---- answers ------------------------------------------------------------------------------

HttpResponse json_answer(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}
HttpResponse error_answer(int status, const std::string& message) {
  return json_answer(status, json_error(message));
}
HttpResponse npy_answer(const std::vector<float>& values, const std::vector<int64_t>& shape) {
  HttpResponse r;
  r.content_type = "application/x-npy";
  r.body = npy_bytes(values.data(), shape);
  return r;
}
bool accepts(const HttpRequest& req, const std::string& type) {
  return req.accept.find(type) != std::string::npos;
}

// ---- what a model tells about itself --------------------------------------------------------

// `class_names`: the checkpoint's, else those of the --data (the service's).
std::string model_info_json(const ModelSource& src, const Checkpoint& c,
                            const std::vector<std::string>& class_names) {
  const ModelConfig& m = c.model;
  json shape = m.height > 0 ? json::array({m.height, m.width, m.channels}) : json::array({m.input_dim});
  json j = {{"name", src.name},
            {"checkpoint", src.path},
            {"architecture", m.describe()},
            {"config", json::parse(m.to_json())},
            {"input_dim", m.input_dim},
            {"data_shape", shape},
            {"images", m.height > 0},
            {"latent", m.latent},
            {"likelihood", likelihood_name(m)},
            {"scaling", {{"kind", scaler_kind_name(c.scaler.kind)}, {"clamp01", c.scaler.clamp01}}},
            {"range_known", !c.scaler.lo.empty()},
            {"classes", m.num_classes},
            {"class_names", class_names}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string model_info_line(const ModelSource& src, const Checkpoint& c) {
  return "vae_model_info{name=\"" + prometheus_label(src.name) + "\",likelihood=\"" +
         prometheus_label(likelihood_name(c.model)) + "\",latent=\"" + std::to_string(c.model.latent) +
         "\",input_dim=\"" + std::to_string(c.model.input_dim) + "\",classes=\"" +
         std::to_string(c.model.num_classes) + "\"} 1\n";
}

// ---- the routes that run a model --------------------------------------------------------------

// The labels of a call: a conditional model needs one per row in 0..Y−1, another takes none.
void check_labels(const Model& m, const std::vector<int32_t>& labels, size_t rows) {
  const int Y = m.num_classes();
  if (Y == 0 && !labels.empty()) throw Unprocessable("labels: the model is not conditional");
  if (Y > 0 && labels.size() != rows)
    throw Unprocessable("labels: the model is conditional; give one label in 0.." +
                        std::to_string(Y - 1) + " per row");
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= Y)
      throw Unprocessable("labels[" + std::to_string(i) + "]: " + std::to_string(labels[i]) +
                          " is out of range 0.." + std::to_string(Y - 1));
}

LabelView label_view(const std::vector<int32_t>& labels) {
  return labels.empty() ? LabelView{} : LabelView{labels.data(), labels.size()};
}

int64_t int_option(const RequestBody& b, const std::string& key, int64_t fallback, int64_t lo,
                   int64_t hi) {
  auto it = b.ints.find(key);
  if (it == b.ints.end()) return fallback;
  if (it->second < lo || it->second > hi)
    throw Unprocessable(key + ": must be in " + std::to_string(lo) + ".." + std::to_string(hi) +
                        ", got " + std::to_string(it->second));
  return it->second;
}

// z = μ + exp(½ log σ²) ⊙ ε, S draws per row, ε from Rng(seed): (B·S, Z), example-major.
std::vector<float> posterior_samples(const std::vector<float>& mu, const std::vector<float>& logvar,
                                     size_t B, size_t Z, size_t S, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> eps(B * S * Z), z(B * S * Z);
  rng.normal_fill(eps.data(), eps.size());
  for (size_t i = 0; i < B; ++i)
    for (size_t s = 0; s < S; ++s)
      for (size_t j = 0; j < Z; ++j) {
        const size_t o = (i * S + s) * Z + j;
        z[o] = mu[i * Z + j] + std::exp(0.5f * logvar[i * Z + j]) * eps[o];
      }
  return z;
}

HttpResponse run_encode(const Model& m, const RequestBody& b, const HttpRequest& req,
                        const ServeLimits& lim) {
  const Tensor& x = *b.input;  // (B, D)
  check_labels(m, b.labels, x.rows);
  const size_t B = x.rows, Z = m.latent();
  const int64_t S = int_option(b, "samples", 0, 0, 1000);
  if (static_cast<size_t>(S) * B > lim.max_batch * 16)
    throw Unprocessable("samples: " + std::to_string(S) + " per row for " + std::to_string(B) +
                        " rows is more than the limit allows");
  std::vector<float> mu(B * Z), logvar(B * Z);  // (B, Z) each
  m.encode({x.data(), B, x.cols}, {mu.data(), B, Z}, {logvar.data(), B, Z}, label_view(b.labels));
  if (accepts(req, "application/x-npy")) {
    std::vector<float> both(mu);
    both.insert(both.end(), logvar.begin(), logvar.end());
    return npy_answer(both, {2, static_cast<int64_t>(B), static_cast<int64_t>(Z)});
  }
  std::string out = "{\"mu\": " + json_matrix(mu.data(), B, Z) + ", \"logvar\": " + json_matrix(logvar.data(), B, Z);
  if (S > 0) {
    const uint64_t seed = static_cast<uint64_t>(int_option(b, "seed", 0, 0, INT64_MAX));
    const std::vector<float> z = posterior_samples(mu, logvar, B, Z, static_cast<size_t>(S), seed);
    out += ", \"z\": " + json_matrix(z.data(), B * static_cast<size_t>(S), Z);
  }
  return json_answer(200, out + "}");
}

HttpResponse rows_answer(const HttpRequest& req, const std::string& key, const std::vector<float>& x,
                         size_t B, size_t D) {
  if (accepts(req, "application/x-npy"))
    return npy_answer(x, {static_cast<int64_t>(B), static_cast<int64_t>(D)});
  return json_answer(200, "{\"" + key + "\": " + json_matrix(x.data(), B, D) + "}");
}

HttpResponse run_decode(const Model& m, const RequestBody& b, const HttpRequest& req) {
  const Tensor& z = *b.input;  // (B, Z)
  check_labels(m, b.labels, z.rows);
  std::vector<float> x(z.rows * m.input_dim());  // (B, D)
  m.decode({z.data(), z.rows, z.cols}, {x.data(), z.rows, m.input_dim()}, label_view(b.labels));
  return rows_answer(req, "x", x, z.rows, m.input_dim());
}

HttpResponse run_reconstruct(const Model& m, const RequestBody& b, const HttpRequest& req) {
  const Tensor& x = *b.input;  // (B, D)
  check_labels(m, b.labels, x.rows);
  std::vector<float> x_hat(x.size());  // (B, D)
  m.reconstruct({x.data(), x.rows, x.cols}, {x_hat.data(), x.rows, x.cols}, label_view(b.labels));
  return rows_answer(req, "x_hat", x_hat, x.rows, x.cols);
}

// A grid of decoded images as PNG, 8 wide (grey or RGB, as the model's data).
HttpResponse png_grid(const Model& m, const std::vector<float>& x, size_t n) {
  const ModelConfig& c = m.config();
  if (c.height <= 0) throw Unprocessable("Accept: image/png: the model's data are not images");
  std::vector<float> hwc(x.size());  // (n, H, W, C) in [0, 1] for make_grid
  const size_t H = c.height, W = c.width, C = c.channels;
  for (size_t i = 0; i < n; ++i)  // the model's rows are (C, H, W)
    for (size_t ch = 0; ch < C; ++ch)
      for (size_t p = 0; p < H * W; ++p) hwc[i * H * W * C + p * C + ch] = x[i * H * W * C + ch * H * W + p];
  const int cols = static_cast<int>(std::min<size_t>(n, 8));
  HttpResponse r;
  r.content_type = "image/png";
  r.body = encode_png(make_grid(hwc.data(), static_cast<int>(n), c.height, c.width, c.channels, cols));
  return r;
}

HttpResponse run_sample(const Model& m, const RequestBody& b, const HttpRequest& req,
                        const ServeLimits& lim) {
  const size_t n = static_cast<size_t>(int_option(b, "n", 1, 1, static_cast<int64_t>(lim.max_batch)));
  const uint64_t seed = static_cast<uint64_t>(int_option(b, "seed", 0, 0, INT64_MAX));
  std::vector<int32_t> labels;
  if (m.num_classes() > 0)
    labels.assign(n, static_cast<int32_t>(int_option(b, "label", 0, 0, m.num_classes() - 1)));
  else if (b.ints.count("label"))
    throw Unprocessable("label: the model is not conditional");
  std::vector<float> x(n * m.input_dim());  // (n, D)
  m.sample(seed, {x.data(), n, m.input_dim()}, label_view(labels));
  if (accepts(req, "image/png")) return png_grid(m, x, n);
  return rows_answer(req, "x", x, n, m.input_dim());
}

// KL(N(μ, σ²) ‖ N(0, I)) per row = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²), exact: (B).
std::vector<double> kl_rows(const std::vector<float>& mu, const std::vector<float>& logvar, size_t B, size_t Z) {
  std::vector<double> kl(B, 0.0);
  for (size_t i = 0; i < B; ++i)
    for (size_t j = 0; j < Z; ++j) {
      const double m = mu[i * Z + j], lv = logvar[i * Z + j];
      kl[i] += 0.5 * (m * m + std::exp(lv) - 1.0 - lv);
    }
  return kl;
}

std::string json_column(const std::string& key, const std::vector<double>& v) {
  std::string out = "\"" + key + "\": [";
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, i ? ",%.9g" : "%.9g", v[i]);
    out += buf;
  }
  return out + "]";
}

// score = −ELBO (k = 0) or −log p̂(x) with k importance samples; neg_elbo = recon + kl with the
// KL exact from the posterior, so recon = neg_elbo − kl is the one-sample reconstruction term.
HttpResponse run_score(const Model& m, const Scaler& scaler, const RequestBody& b,
                       const HttpRequest& req, const ServeLimits& lim) {
  const Tensor& x = *b.input;  // (B, D)
  check_labels(m, b.labels, x.rows);
  const size_t B = x.rows, Z = m.latent();
  const int k = static_cast<int>(int_option(b, "k", 0, 0, lim.max_k));
  const uint64_t seed = static_cast<uint64_t>(int_option(b, "seed", static_cast<int64_t>(kEvalSeed), 0, INT64_MAX));
  const ConstView xv{x.data(), B, x.cols};
  std::vector<float> elbo(B), iw(B), mu(B * Z), logvar(B * Z);  // (B), (B), (B, Z), (B, Z)
  m.score(xv, {elbo.data(), B, 1}, {0, seed}, label_view(b.labels));
  if (k > 0) m.score(xv, {iw.data(), B, 1}, {k, seed}, label_view(b.labels));
  m.encode(xv, {mu.data(), B, Z}, {logvar.data(), B, Z}, label_view(b.labels));
  const std::vector<double> kl = kl_rows(mu, logvar, B, Z);
  std::vector<double> score(B), neg_elbo(B), recon(B), outside(B, 0.0);
  for (size_t i = 0; i < B; ++i) {
    neg_elbo[i] = elbo[i];
    recon[i] = neg_elbo[i] - kl[i];
    score[i] = k > 0 ? iw[i] : elbo[i];
  }
  const std::vector<uint32_t> counts = scaler.out_of_range(x.data(), B, x.cols);
  for (size_t i = 0; i < counts.size(); ++i) outside[i] = counts[i];
  if (accepts(req, "application/x-npy"))
    return npy_answer(std::vector<float>(score.begin(), score.end()), {static_cast<int64_t>(B)});
  std::string out = "{\"k\": " + std::to_string(k) + ", " + json_column("score", score) + ", " +
                    json_column("neg_elbo", neg_elbo) + ", " + json_column("recon", recon) + ", " +
                    json_column("kl", kl);
  if (!counts.empty()) {
    std::string flags = "\"out_of_range\": [";
    for (size_t i = 0; i < B; ++i) flags += std::string(i ? "," : "") + (counts[i] ? "true" : "false");
    out += ", " + flags + "], " + json_column("out_of_range_values", outside);
  }
  return json_answer(200, out + "}");
}

// ---- the explorer's map -----------------------------------------------------------------------

// The rows of `data` that fit the model (at most 2000), encoded: 2-D coordinates (the latent
// itself when Z = 2, else the first two principal components of μ), with μ for the page.
std::string latent_map_json(const Model& m, const Dataset& data, const std::vector<std::string>& names) {
  if (data.n == 0 || data.d != m.input_dim()) return "{\"points\": 0}";
  if (m.num_classes() > 0 && data.labels.empty()) return "{\"points\": 0}";
  const size_t n = std::min<size_t>(data.n, 2000), Z = m.latent();
  std::vector<float> mu(n * Z), logvar(n * Z);  // (n, Z)
  const LabelView labels = data.labels.empty() || m.num_classes() == 0
                               ? LabelView{} : LabelView{data.labels.data(), n};
  m.encode({data.x.data(), n, data.d}, {mu.data(), n, Z}, {logvar.data(), n, Z}, labels);
  std::vector<float> xy(n * 2);  // (n, 2)
  json axes = {{"kind", Z == 2 ? "latent" : Z == 1 ? "latent1" : "pca"}};
  if (Z <= 2) {
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < 2; ++j) xy[i * 2 + j] = j < Z ? mu[i * Z + j] : 0.0f;
  } else {
    const Pca pca = principal_components(mu.data(), n, static_cast<int>(Z), 2);
    for (size_t i = 0; i < n; ++i)
      for (size_t c = 0; c < 2; ++c) {
        double s = 0;
        for (size_t j = 0; j < Z; ++j) s += (mu[i * Z + j] - pca.mean[j]) * pca.components[c * Z + j];
        xy[i * 2 + c] = static_cast<float>(s);
      }
    axes["mean"] = pca.mean;
    axes["components"] = pca.components;
  }
  json j = {{"points", n}, {"axes", axes}, {"class_names", names},
            {"labels", data.labels.empty() ? std::vector<int32_t>() : std::vector<int32_t>(data.labels.begin(), data.labels.begin() + n)}};
  std::string out = j.dump(-1, ' ', false, json::error_handler_t::replace);
  out.pop_back();
  return out + ", \"xy\": " + json_matrix(xy.data(), n, 2) + ", \"mu\": " + json_matrix(mu.data(), n, Z) +
         ", \"x\": " + json_matrix(data.x.data(), n, data.d) + "}";
}

// ---- routing --------------------------------------------------------------------------------

const char* const kComputeActions[] = {"encode", "decode", "sample", "reconstruct", "score"};

// "/v1/models/NAME/ACTION" → (NAME, ACTION); ACTION is "" for "/v1/models/NAME".
bool split_model_path(const std::string& path, std::string* name, std::string* action) {
  const std::string prefix = "/v1/models/";
  if (path.rfind(prefix, 0) != 0 || path.size() == prefix.size()) return false;
  const std::string rest = path.substr(prefix.size());
  const size_t slash = rest.find('/');
  *name = rest.substr(0, slash);
  *action = slash == std::string::npos ? "" : rest.substr(slash + 1);
  return !name->empty() && action->find('/') == std::string::npos;
}

bool is_compute_action(const std::string& action) {
  for (const char* a : kComputeActions)
    if (action == a) return true;
  return false;
}

HttpResponse method_not_allowed(const std::string& allow) {
  HttpResponse r = error_answer(405, "method not allowed; use " + allow);
  r.allow = allow;
  return r;
}

}  // namespace

Service::Service(std::vector<ModelSource> sources, ServeLimits limits, Dataset data,
                 std::vector<std::string> class_names)
    : sources_(std::move(sources)), limits_(limits), data_(std::move(data)),
      class_names_(std::move(class_names)) {
  reload();
}

Service::~Service() = default;

void Service::reload() {
  auto reg = std::make_shared<Registry>();
  for (const ModelSource& src : sources_) {
    const Checkpoint c = load_checkpoint(src.path);
    auto s = std::make_unique<Served>(c);
    s->name = src.name;
    s->path = src.path;
    if (s->class_names.empty()) s->class_names = class_names_;
    s->info = model_info_json(src, c, s->class_names);
    s->info_line = model_info_line(src, c);
    s->map = latent_map_json(s->model, data_, s->class_names);
    reg->models.push_back(std::move(s));
  }
  std::lock_guard<std::mutex> lock(registry_mutex_);
  registry_ = std::move(reg);
}

std::shared_ptr<const Service::Registry> Service::registry() const {
  std::lock_guard<std::mutex> lock(registry_mutex_);
  return registry_;
}

bool Service::computes(const HttpRequest& req) {
  std::string name, action;
  return req.method == "POST" && split_model_path(req.path, &name, &action) && is_compute_action(action);
}

std::string Service::route_of(const std::string& path) {
  for (const char* fixed : {"/", "/favicon.ico", "/healthz", "/readyz", "/metrics", "/v1/models"})
    if (path == fixed) return path;
  std::string name, action;
  if (!split_model_path(path, &name, &action)) return "other";
  if (action.empty()) return "/v1/models/{name}";
  if (is_compute_action(action) || action == "map") return "/v1/models/{name}/" + action;
  return "other";
}

HttpResponse Service::model_route(const Registry& reg, const HttpRequest& req) const {
  std::string name, action;
  if (!split_model_path(req.path, &name, &action)) return error_answer(404, "no such route: " + req.path);
  const Served* s = reg.find(name);
  const bool known = action.empty() || action == "map" || is_compute_action(action);
  if (!known) return error_answer(404, "no such route: " + req.path);
  if (!s) return error_answer(404, "no model named '" + name + "'");
  if (action.empty() || action == "map") {
    if (req.method != "GET") return method_not_allowed("GET");
    return json_answer(200, action.empty() ? s->info : s->map);
  }
  if (req.method != "POST") return method_not_allowed("POST");
  const std::map<std::string, std::string> query = parse_query(req.query);
  std::optional<BodyFormat> format = body_format(req.content_type);
  if (req.body.empty() && req.content_type.empty()) format = BodyFormat::Npy;  // options in the query
  if (!format) return error_answer(415, "Content-Type: expected application/json or application/x-npy, got '" +
                                            req.content_type + "'");
  const Model& m = s->model;
  const bool on_z = action == "decode";
  const std::string input = action == "sample" ? "" : on_z ? "z" : "x";
  const RequestBody b = decode_body(*format, req.body, input, on_z ? m.latent() : m.input_dim(),
                                    limits_.max_batch, {"n", "seed", "k", "label", "samples"}, query);
  if (action == "encode") return run_encode(m, b, req, limits_);
  if (action == "decode") return run_decode(m, b, req);
  if (action == "sample") return run_sample(m, b, req, limits_);
  if (action == "reconstruct") return run_reconstruct(m, b, req);
  return run_score(m, s->scaler, b, req, limits_);
}

HttpResponse Service::handle(const HttpRequest& req) const {
  try {
    const std::shared_ptr<const Registry> reg = registry();
    const std::string route = route_of(req.path);
    const bool fixed = route != "other" && route.rfind("/v1/models/", 0) != 0;
    if (fixed && req.method != "GET") return method_not_allowed("GET");
    if (route == "/healthz") return json_answer(200, "{\"status\": \"ok\"}");
    if (route == "/readyz")
      return stopping_.load() ? error_answer(503, "stopping") : json_answer(200, "{\"status\": \"ready\"}");
    if (route == "/metrics") {
      std::string info;
      for (const auto& m : reg->models) info += m->info_line;
      HttpResponse r{200, "text/plain; version=0.0.4", metrics_.render(info), ""};
      return r;
    }
    if (route == "/") return HttpResponse{200, "text/html; charset=utf-8", explorer_page(), ""};
    if (route == "/favicon.ico") return HttpResponse{204, "image/x-icon", "", ""};  // none: no 404 in a browser's console
    if (route == "/v1/models") {
      std::string out = "{\"models\": [";
      for (size_t i = 0; i < reg->models.size(); ++i) out += (i ? ", " : "") + reg->models[i]->info;
      return json_answer(200, out + "]}");
    }
    return model_route(*reg, req);
  } catch (const BadRequest& e) {
    return error_answer(400, e.what());
  } catch (const Unprocessable& e) {
    return error_answer(422, e.what());
  } catch (const vae::Error& e) {
    return error_answer(422, e.what());
  } catch (const std::bad_alloc&) {
    return error_answer(503, "out of memory; try a smaller request");
  } catch (const std::exception& e) {
    return error_answer(500, std::string("internal error: ") + e.what());
  }
}

}  // namespace vae::serve
