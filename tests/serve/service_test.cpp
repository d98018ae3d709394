// The service's answers without a socket: every route, every status a request can earn, and
// answers equal to the inference API's (vae::Model) for the same inputs.
#include "serve/service.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "infer/infer_util.h"
#include "io/png.h"
#include "test_util.h"
#include "vae/checkpoint.h"
#include "vae/infer.h"
#include "vae/npy.h"

namespace {

using nlohmann::json;
using vae::serve::HttpRequest;
using vae::serve::HttpResponse;
using vae::serve::Service;

class ServeService : public ::testing::Test {
 protected:
  void SetUp() override {
    plain_ = tmp_.file("plain.safetensors");
    cond_ = tmp_.file("cond.safetensors");
    vae::Checkpoint plain = vae_test::infer_checkpoint(0, /*standardize=*/true);
    plain.model.height = plain.model.width = plain.model.channels = 0;  // table data
    vae::save_checkpoint(plain_, plain);
    vae::Checkpoint c = vae_test::infer_checkpoint(3);
    c.class_names = {"a", "b", "c"};
    vae::save_checkpoint(cond_, c);
    vae::Dataset data;
    data.n = 50;
    data.d = 12;
    data.x = vae_test::infer_rows(50, 12, /*raw=*/true);
    service_ = std::make_unique<Service>(
        std::vector<vae::serve::ModelSource>{{"plain", plain_}, {"cond", cond_}},
        vae::serve::ServeLimits{}, std::move(data));
  }
  HttpResponse post(const std::string& path, const std::string& body,
                    const std::string& type = "application/json", const std::string& accept = "") {
    return service_->handle(HttpRequest{"POST", path, "", type, accept, body});
  }
  HttpResponse get(const std::string& path) { return service_->handle(HttpRequest{"GET", path, "", "", "", ""}); }
  static std::vector<float> flat(const json& rows) {
    std::vector<float> out;
    for (const auto& r : rows)
      for (const auto& v : r) out.push_back(v.get<float>());
    return out;
  }
  static std::string rows_json(const std::vector<float>& v, size_t cols) {
    json rows = json::array();
    for (size_t i = 0; i < v.size() / cols; ++i)
      rows.push_back(std::vector<float>(v.begin() + i * cols, v.begin() + (i + 1) * cols));
    return rows.dump();
  }

  vae_test::TempDir tmp_;
  std::string plain_, cond_;
  std::unique_ptr<Service> service_;
};

TEST_F(ServeService, HealthReadyModelsAndMetrics) {
  EXPECT_EQ(get("/healthz").status, 200);
  EXPECT_EQ(get("/readyz").status, 200);
  const json models = json::parse(get("/v1/models").body);
  ASSERT_EQ(models["models"].size(), 2u);
  const json one = json::parse(get("/v1/models/cond").body);
  EXPECT_EQ(one["latent"], 4);
  EXPECT_EQ(one["input_dim"], 12);
  EXPECT_EQ(one["classes"], 3);
  EXPECT_EQ(one["class_names"], json({"a", "b", "c"}));
  EXPECT_EQ(one["data_shape"], json({3, 4, 1}));
  EXPECT_EQ(json::parse(get("/v1/models/plain").body)["scaling"]["kind"], "standardize");
  service_->metrics().record("/healthz", 200, 0.0001);
  const HttpResponse m = get("/metrics");
  EXPECT_EQ(m.content_type, "text/plain; version=0.0.4");
  EXPECT_NE(m.body.find("vae_http_requests_total{route=\"/healthz\",status=\"200\"} 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("vae_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.0005\"} 1"), std::string::npos);
  EXPECT_NE(m.body.find("vae_model_info{name=\"cond\""), std::string::npos);
  EXPECT_NE(get("/").body.find("<canvas id=\"map\""), std::string::npos);
  EXPECT_EQ(get("/favicon.ico").status, 204);
  service_->set_stopping();
  EXPECT_EQ(get("/readyz").status, 503);
}

TEST_F(ServeService, AnswersEqualTheLibrary) {
  const vae::Model lib = vae::Model::load(plain_);
  const std::vector<float> x = vae_test::infer_rows(5, 12, true, 9);  // (5, 12)
  std::vector<float> mu(20), lv(20), dec(60), rec(60), smp(36), sc(5), iw(5);
  lib.encode({x.data(), 5, 12}, {mu.data(), 5, 4}, {lv.data(), 5, 4});
  lib.decode({mu.data(), 5, 4}, {dec.data(), 5, 12});
  lib.reconstruct({x.data(), 5, 12}, {rec.data(), 5, 12});
  lib.sample(42, {smp.data(), 3, 12});
  lib.score({x.data(), 5, 12}, {sc.data(), 5, 1});
  lib.score({x.data(), 5, 12}, {iw.data(), 5, 1}, {16, 7});

  const json e = json::parse(post("/v1/models/plain/encode", "{\"x\": " + rows_json(x, 12) + "}").body);
  EXPECT_EQ(flat(e["mu"]), mu);
  EXPECT_EQ(flat(e["logvar"]), lv);
  const json d = json::parse(post("/v1/models/plain/decode", "{\"z\": " + rows_json(mu, 4) + "}").body);
  EXPECT_EQ(flat(d["x"]), dec);
  const json r = json::parse(post("/v1/models/plain/reconstruct", "{\"x\": " + rows_json(x, 12) + "}").body);
  EXPECT_EQ(flat(r["x_hat"]), rec);
  const json s = json::parse(post("/v1/models/plain/sample", R"({"n": 3, "seed": 42})").body);
  EXPECT_EQ(flat(s["x"]), smp);
  const json s0 = json::parse(post("/v1/models/plain/score", "{\"x\": " + rows_json(x, 12) + "}").body);
  const json s16 = json::parse(post("/v1/models/plain/score", "{\"k\": 16, \"seed\": 7, \"x\": " + rows_json(x, 12) + "}").body);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(s0["score"][i].get<float>(), sc[i]);
    EXPECT_EQ(s16["score"][i].get<float>(), iw[i]);
    // KL from μ, log σ² by hand; recon + kl = −ELBO
    double kl = 0;
    for (size_t j = 0; j < 4; ++j) kl += 0.5 * (mu[i * 4 + j] * mu[i * 4 + j] + std::exp(lv[i * 4 + j]) - 1 - lv[i * 4 + j]);
    EXPECT_NEAR(s0["kl"][i].get<double>(), kl, 1e-6 * (1 + kl));
    EXPECT_NEAR(s0["recon"][i].get<double>() + s0["kl"][i].get<double>(), sc[i], 1e-4 * (1 + std::fabs(sc[i])));
  }
  EXPECT_EQ(s16["k"], 16);
}

TEST_F(ServeService, NpyInAndOut) {
  const vae::Model lib = vae::Model::load(plain_);
  const std::vector<float> x = vae_test::infer_rows(3, 12, true, 4);
  std::vector<float> rec(36);
  lib.reconstruct({x.data(), 3, 12}, {rec.data(), 3, 12});
  const HttpResponse r = post("/v1/models/plain/reconstruct", vae::npy_bytes(x.data(), {3, 12}),
                              "application/x-npy", "application/x-npy");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/x-npy");
  const vae::NpyArray a = vae::parse_npy(r.body.data(), r.body.size(), "answer");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{3, 12}));
  EXPECT_EQ(a.data, rec);
}

TEST_F(ServeService, ConditionalLabelsAndPng) {
  const vae::Model lib = vae::Model::load(cond_);
  const std::vector<float> z = {0.1f, -0.2f, 0.3f, 0.4f, 1, 1, 1, 1};
  const std::vector<int32_t> labels = {2, 0};
  std::vector<float> dec(24);
  lib.decode({z.data(), 2, 4}, {dec.data(), 2, 12}, {labels.data(), 2});
  const json d = json::parse(post("/v1/models/cond/decode", "{\"z\": " + rows_json(z, 4) + ", \"labels\": [2, 0]}").body);
  EXPECT_EQ(flat(d["x"]), dec);
  EXPECT_EQ(post("/v1/models/cond/decode", "{\"z\": " + rows_json(z, 4) + "}").status, 422);
  EXPECT_EQ(post("/v1/models/cond/decode", "{\"z\": " + rows_json(z, 4) + ", \"labels\": [3, 0]}").status, 422);
  EXPECT_EQ(post("/v1/models/plain/decode", "{\"z\": " + rows_json(z, 4) + ", \"labels\": [0, 0]}").status, 422);
  EXPECT_EQ(post("/v1/models/cond/sample", R"({"n": 2, "label": 5})").status, 422);
  const HttpResponse png = post("/v1/models/cond/sample", R"({"n": 10, "seed": 1, "label": 1})", "application/json", "image/png");
  ASSERT_EQ(png.status, 200) << png.body;
  EXPECT_EQ(png.content_type, "image/png");
  vae_test::write_bytes(tmp_.file("g.png"), png.body);
  const vae::Image img = vae::read_png(tmp_.file("g.png"));
  EXPECT_EQ(img.width, 8 * 4 + 9 * 2);  // 8 tiles of 4 wide, padding 2
  EXPECT_EQ(img.height, 2 * 3 + 3 * 2);
}

TEST_F(ServeService, ErrorStatuses) {
  EXPECT_EQ(get("/nope").status, 404);
  EXPECT_EQ(get("/v1/models/missing").status, 404);
  EXPECT_EQ(post("/v1/models/missing/encode", "{}").status, 404);
  EXPECT_EQ(post("/v1/models/plain/explode", "{}").status, 404);
  const HttpResponse m405 = service_->handle(HttpRequest{"GET", "/v1/models/plain/encode", "", "", "", ""});
  EXPECT_EQ(m405.status, 405);
  EXPECT_EQ(m405.allow, "POST");
  EXPECT_EQ(post("/healthz", "").status, 405);
  EXPECT_EQ(post("/v1/models/plain/encode", "x=1", "text/plain").status, 415);
  EXPECT_EQ(post("/v1/models/plain/encode", "{\"x\": [1,2").status, 400);
  EXPECT_EQ(post("/v1/models/plain/encode", "{\"x\": [[1,2]]}").status, 422);
  EXPECT_EQ(post("/v1/models/plain/score", "{\"k\": 100000, \"x\": [[1,2,3,4,5,6,7,8,9,10,11,12]]}").status, 422);
  EXPECT_EQ(post("/v1/models/plain/sample", "{\"n\": 0}").status, 422);
  EXPECT_EQ(post("/v1/models/plain/sample", "{\"n\": 100000}").status, 422);
  const HttpResponse bad = post("/v1/models/plain/encode", "{\"x\": [[1,2]]}");
  EXPECT_EQ(json::parse(bad.body)["error"], "x[0]: has 2 values, the model takes 12");
  // an image answer for a model of table data is a request that cannot be met
  EXPECT_EQ(post("/v1/models/plain/sample", "{\"n\": 1}", "application/json", "image/png").status, 422);
}

// Every route answers a method it does not take with 405, the methods it takes in Allow, and
// the JSON error body: HEAD, the other standard methods and tokens no standard names alike.
TEST_F(ServeService, MethodsARouteDoesNotTakeAre405) {
  const std::vector<std::string> get_routes = {"/",         "/favicon.ico",       "/healthz",
                                               "/readyz",   "/metrics",           "/v1/models",
                                               "/v1/models/plain", "/v1/models/cond/map"};
  const std::vector<std::string> post_routes = {"/v1/models/plain/encode", "/v1/models/plain/decode",
                                                "/v1/models/cond/sample", "/v1/models/cond/reconstruct",
                                                "/v1/models/plain/score"};
  const std::vector<std::string> others = {"HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "BREW", "get"};
  size_t checked = 0;
  for (const bool posts : {false, true})
    for (const std::string& path : posts ? post_routes : get_routes) {
      std::vector<std::string> methods = others;
      methods.push_back(posts ? "GET" : "POST");
      for (const std::string& method : methods) {
        const HttpResponse r = service_->handle(HttpRequest{method, path, "", "application/json", "", "{}"});
        const std::string where = method + " " + path;
        EXPECT_EQ(r.status, 405) << where;
        EXPECT_EQ(r.allow, posts ? "POST" : "GET") << where;
        EXPECT_EQ(r.content_type, "application/json") << where;
        const json body = json::parse(r.body, nullptr, false);
        ASSERT_TRUE(body.is_object() && body.contains("error")) << where << ": " << r.body;
        EXPECT_EQ(body["error"], std::string("method not allowed; use ") + (posts ? "POST" : "GET")) << where;
        ++checked;
      }
    }
  EXPECT_EQ(checked, 13u * 10u);
  // the methods they take still answer
  EXPECT_EQ(get("/healthz").status, 200);
  EXPECT_EQ(post("/v1/models/plain/decode", R"({"z": [[0,0,0,0]]})").status, 200);
}

TEST_F(ServeService, EncodeSamplesAndMapAndReload) {
  const json e = json::parse(post("/v1/models/plain/encode", R"({"x": [[1,2,3,4,5,6,7,8,9,10,11,12]], "samples": 3, "seed": 5})").body);
  EXPECT_EQ(e["z"].size(), 3u);
  EXPECT_NE(e["z"][0], e["z"][1]);
  const json map = json::parse(get("/v1/models/plain/map").body);
  EXPECT_EQ(map["points"], 50);
  EXPECT_EQ(map["axes"]["kind"], "pca");
  EXPECT_EQ(map["xy"].size(), 50u);
  // the conditional model has no labels for the rows: no map
  EXPECT_EQ(json::parse(get("/v1/models/cond/map").body)["points"], 0);

  const std::string before = post("/v1/models/plain/sample", R"({"n": 1})").body;
  vae::Checkpoint other = vae_test::infer_checkpoint(0, true);
  for (float& p : other.params) p *= 0.5f;
  vae::save_checkpoint(plain_, other);
  service_->reload();
  EXPECT_NE(post("/v1/models/plain/sample", R"({"n": 1})").body, before);
  vae_test::write_bytes(plain_, "broken");
  EXPECT_THROW(service_->reload(), vae::Error);
  EXPECT_EQ(post("/v1/models/plain/sample", R"({"n": 1})").status, 200);  // the old set stays
}

}  // namespace
