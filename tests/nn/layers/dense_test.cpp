// The dense layer kind (src/nn/layers/dense.cpp): its JSON form and errors, its plan, its
// parameters' names and layout (torch.nn.Linear's), and its calls through the row.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "layer_check.h"
#include "nn/layers/dense.h"
#include "test_util.h"

namespace {

using vae_test::error_of;
using vae_test::plan_one;

TEST(DenseLayer, JsonRoundTripAndErrors) {
  vae_test::expect_json_round_trip(vae::dense_layer(256), R"({"type":"dense","units":256})");
  EXPECT_EQ(vae::kDenseKind.token(vae::dense_layer(256)), "d256");
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"type": "dense"})", "encoder[0].units: missing"},
      {R"({"type": "dense", "units": "many"})", "encoder[0].units: must be an integer"},
      {R"({"type": "dense", "units": 2.5})", "encoder[0].units: must be an integer"},
      {R"({"type": "dense", "units": 3, "kernel": 2})",
       "encoder[0].kernel: not a field of a dense layer"},
  };
  vae_test::expect_read_errors(bad, "encoder[0]");
}

TEST(DenseLayer, PlanFlattensAnImageInput) {
  vae::PlannedLayer l;
  l.spec = vae::dense_layer(5);
  l.in_c = 3;
  l.in_h = 4;
  l.in_w = 2;
  EXPECT_FALSE(vae::kDenseKind.plan(l, true, "encoder[0]"));  // its output is flat
  EXPECT_EQ(l.in_c, 24);
  EXPECT_EQ(l.in_h * l.in_w, 1);
  EXPECT_EQ(l.out_c, 5);
  EXPECT_EQ(l.out_h * l.out_w, 1);
  EXPECT_EQ(error_of([&] { plan_one(vae::dense_layer(0), 4, 1, 1, false); }),
            "encoder[0].units: must be in 1..65536, got 0");
  EXPECT_EQ(error_of([&] { plan_one(vae::dense_layer(70000), 4, 1, 1, false); }),
            "encoder[0].units: must be in 1..65536, got 70000");
}

TEST(DenseLayer, ParamsAreLinearsWeightThenBias) {
  // A conditional layer: 3 inputs and a one-hot of 2, 4 outputs.
  const vae::PlannedLayer l = plan_one(vae::dense_layer(4), 3, 1, 1, false, 2);
  EXPECT_EQ(vae_test::param_names(l),
            (std::vector<std::string>{"encoder.0.weight 4x5", "encoder.0.bias 4"}));
  EXPECT_EQ(vae::kDenseKind.scratch_size(l, 8), 0u);
  // The row's forward is linear_forward with W (O, I + Y) then b (O) in one buffer.
  const int B = 2, I = 5, O = 4;
  vae::Rng rng(3);
  std::vector<double> x(B * I), params(O * I + O), y(B * O), expected(B * O);
  vae_test::fill_uniform(x, rng);
  vae_test::fill_uniform(params, rng);
  vae::kDenseKind.calls<double>().forward(y.data(), nullptr, x.data(), params.data(), l, B,
                                          nullptr);
  vae::linear_forward(expected.data(), x.data(), params.data(), params.data() + O * I, B, I, O);
  EXPECT_EQ(y, expected);
}

TEST(DenseLayer, CallsMatchFiniteDifferences) {
  vae_test::check_layer_calls(plan_one(vae::dense_layer(4), 2, 3, 1, true), 3);
  vae_test::check_layer_calls(plan_one(vae::dense_layer(3), 4, 1, 1, false, 2), 2);
}

}  // namespace
