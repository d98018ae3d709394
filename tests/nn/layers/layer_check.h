// Checks shared by the tests of the layer kinds (src/nn/layers/): planning one layer as its
// stack would, the JSON round trip, and the kind's calls through its row — backward against
// finite differences of L = Σ r ⊙ y (double precision) for the input and every parameter, onto
// sentinel-filled gradient buffers (the accumulate rule), and the float calls against double.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "gradcheck.h"
#include "nn/layers/layer.h"
#include "nn/layers/registry.h"
#include "test_util.h"

namespace vae_test {

/// The layer planned on the input (c, h, w) (an image, or flat), as "encoder[0]" would be, with
/// a one-hot of width cond appended. Throws what the kind's plan throws.
inline vae::PlannedLayer plan_one(const vae::LayerSpec& s, int c, int h, int w, bool image,
                                  int cond = 0) {
  vae::PlannedLayer l;
  l.spec = s;
  l.name = "encoder.0";
  l.in_c = c;
  l.in_h = h;
  l.in_w = w;
  s.kind->plan(l, image, "encoder[0]");
  l.cond = cond;
  return l;
}

/// "name shape" per parameter tensor, as param_table names them: "encoder.0.weight 4x3".
inline std::vector<std::string> param_names(const vae::PlannedLayer& l) {
  std::vector<std::string> out;
  for (const vae::LayerParam& p : l.spec.kind->params(l)) {
    std::string s = l.name + "." + p.suffix + " ";
    for (size_t k = 0; k < p.shape.size(); ++k)
      s += (k ? "x" : "") + std::to_string(p.shape[k]);
    out.push_back(s);
  }
  return out;
}

/// Total elements of the layer's parameter tensors.
inline size_t param_numel(const vae::PlannedLayer& l) {
  size_t n = 0;
  for (const vae::LayerParam& p : l.spec.kind->params(l)) {
    size_t m = 1;
    for (int64_t d : p.shape) m *= static_cast<size_t>(d);
    n += m;
  }
  return n;
}

/// Writes s as JSON, checks the text, and reads it back to s.
inline void expect_json_round_trip(const vae::LayerSpec& s, const std::string& text) {
  const nlohmann::json j = vae::layer_to_json(s);
  EXPECT_EQ(j.dump(), text);
  EXPECT_TRUE(vae::layer_from_json(j, "encoder[0]") == s) << text;
}

/// Each (JSON text, message) pair: reading the text as the layer `at` fails with the message.
inline void expect_read_errors(const std::vector<std::pair<std::string, std::string>>& cases,
                               const std::string& at) {
  for (const auto& [text, expected] : cases)
    EXPECT_EQ(error_of([&] { vae::layer_from_json(nlohmann::json::parse(text), at); }), expected)
        << text;
}

/// Each (spec, message) pair: planning the spec on the input (c, h, w) fails with the message.
inline void expect_plan_errors(const std::vector<std::pair<vae::LayerSpec, std::string>>& cases,
                               int c, int h, int w, bool image) {
  for (const auto& [spec, expected] : cases)
    EXPECT_EQ(error_of([&] { plan_one(spec, c, h, w, image); }), expected) << expected;
}

/// The kind's calls on `rows` rows of the planned layer: forward writes every output, backward
/// matches finite differences and accumulates, and float agrees with double.
inline void check_layer_calls(const vae::PlannedLayer& l, int rows) {
  const vae::LayerKind& kind = *l.spec.kind;
  const size_t n_in = rows * (l.in_size() + l.cond), n_out = rows * l.out_size();
  const size_t n_par = param_numel(l);
  vae::Rng rng(7);
  std::vector<double> x(n_in), params(n_par), r(n_out), y(n_out, 1e300);
  std::vector<double> scratch(kind.scratch_size(l, rows)), saved(rows * kind.saved_size(l));
  fill_uniform(x, rng);
  fill_uniform(params, rng);
  fill_uniform(r, rng);
  auto loss = [&] {
    kind.calls<double>().forward(y.data(), saved.data(), x.data(), params.data(), l, rows,
                                 scratch.data());
    return dot(r, y.data());
  };
  loss();
  for (double v : y) ASSERT_LT(std::fabs(v), 1e100) << "forward left an output unwritten";
  const double s = 0.25;  // sentinel: backward adds to what is there
  std::vector<double> dx(n_in, s), dparams(n_par, s);
  kind.calls<double>().backward(dx.data(), dparams.data(), r.data(), saved.data(), x.data(),
                                params.data(), l, rows, scratch.data());
  for (auto* g : {&dx, &dparams})
    for (double& v : *g) v -= s;
  check_gradient("dx", x.data(), dx.data(), n_in, loss);
  check_gradient("dparams", params.data(), dparams.data(), n_par, loss);

  std::vector<float> xf(x.begin(), x.end()), pf(params.begin(), params.end()), yf(n_out);
  std::vector<float> scratch_f(kind.scratch_size(l, rows)), saved_f(saved.size());
  kind.calls<float>().forward(yf.data(), saved_f.data(), xf.data(), pf.data(), l, rows,
                              scratch_f.data());
  loss();
  for (size_t i = 0; i < n_out; ++i) ASSERT_NEAR(yf[i], y[i], 1e-4 * (1 + std::fabs(y[i])));
}

}  // namespace vae_test
