// The gated dense layer kind (src/nn/layers/gated_dense.cpp): its JSON form and errors, its plan,
// its parameters' names and layout (two torch.nn.Linear, value then gate), its forward against
// the formula written out, its calls through the row, and that no activation follows it in a
// model's plan.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "layer_check.h"
#include "model/plan.h"
#include "nn/layers/dense.h"
#include "nn/layers/gated_dense.h"
#include "test_util.h"

namespace {

using vae_test::error_of;
using vae_test::plan_one;

TEST(GatedDenseLayer, JsonRoundTripAndErrors) {
  vae_test::expect_json_round_trip(vae::gated_dense_layer(300),
                                   R"({"type":"gated_dense","units":300})");
  EXPECT_EQ(vae::kGatedDenseKind.token(vae::gated_dense_layer(300)), "g300");
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"type": "gated_dense"})", "decoder[1].units: missing"},
      {R"({"type": "gated_dense", "units": 1.5})", "decoder[1].units: must be an integer"},
      {R"({"type": "gated_dense", "units": 3, "stride": 2})",
       "decoder[1].stride: not a field of a gated_dense layer"},
  };
  vae_test::expect_read_errors(bad, "decoder[1]");
}

TEST(GatedDenseLayer, PlanFlattensAnImageInputAndChecksUnits) {
  vae::PlannedLayer l;
  l.spec = vae::gated_dense_layer(5);
  l.in_c = 2;
  l.in_h = 3;
  l.in_w = 2;
  EXPECT_FALSE(vae::kGatedDenseKind.plan(l, true, "encoder[0]"));
  EXPECT_EQ(l.in_c, 12);
  EXPECT_EQ(l.in_h * l.in_w, 1);
  EXPECT_EQ(l.out_c, 5);
  EXPECT_EQ(error_of([&] { plan_one(vae::gated_dense_layer(0), 4, 1, 1, false); }),
            "encoder[0].units: must be in 1..65536, got 0");
}

TEST(GatedDenseLayer, ParamsAreValueThenGateLinears) {
  const vae::PlannedLayer l = plan_one(vae::gated_dense_layer(4), 3, 1, 1, false, 2);
  EXPECT_EQ(vae_test::param_names(l),
            (std::vector<std::string>{"encoder.0.weight 4x5", "encoder.0.bias 4",
                                      "encoder.0.gate_weight 4x5", "encoder.0.gate_bias 4"}));
  EXPECT_EQ(vae::kGatedDenseKind.scratch_size(l, 8), 2u * 8 * 4);
  EXPECT_EQ(vae::kGatedDenseKind.saved_size(l), 2u * 4);
}

// y = (x Wᵀ + b) ⊙ σ(x Gᵀ + c), each element summed out by hand.
TEST(GatedDenseLayer, ForwardIsTheValueTimesTheSigmoidOfTheGate) {
  const vae::PlannedLayer l = plan_one(vae::gated_dense_layer(3), 4, 1, 1, false);
  const int B = 2, I = 4, O = 3;
  vae::Rng rng(5);
  std::vector<double> x(B * I), params(2 * (O * I + O)), y(B * O), saved(B * 2 * O);
  vae_test::fill_uniform(x, rng);
  vae_test::fill_uniform(params, rng);
  vae::kGatedDenseKind.calls<double>().forward(y.data(), saved.data(), x.data(), params.data(), l,
                                               B, nullptr);
  const double* W = params.data();
  const double* b = W + O * I;
  const double* G = b + O;
  const double* c = G + O * I;
  for (int r = 0; r < B; ++r)
    for (int o = 0; o < O; ++o) {
      double a = b[o], g = c[o];
      for (int i = 0; i < I; ++i) {
        a += x[r * I + i] * W[o * I + i];
        g += x[r * I + i] * G[o * I + i];
      }
      EXPECT_NEAR(y[r * O + o], a / (1 + std::exp(-g)), 1e-14);
    }
}

TEST(GatedDenseLayer, CallsMatchFiniteDifferences) {
  vae_test::check_layer_calls(plan_one(vae::gated_dense_layer(4), 2, 3, 1, true), 3);
  vae_test::check_layer_calls(plan_one(vae::gated_dense_layer(3), 4, 1, 1, false, 2), 2);
}

// The gate is the layer's nonlinearity: the model's activation follows a dense layer but not a
// gated one.
TEST(GatedDenseLayer, NoActivationFollowsItInAModel) {
  vae::ModelConfig c;
  c.input_dim = 6;
  c.height = 2;
  c.width = 3;
  c.channels = 1;
  c.latent = 2;
  c.arch = vae::Arch::Custom;
  c.encoder = {vae::gated_dense_layer(5), vae::dense_layer(4)};
  c.decoder = {vae::gated_dense_layer(4), vae::dense_layer(6)};
  const vae::ModelPlan plan = vae::plan_model(c);
  EXPECT_FALSE(plan.encoder[0].act);
  EXPECT_TRUE(plan.encoder[1].act);
  EXPECT_FALSE(plan.decoder[0].act);
  EXPECT_FALSE(plan.decoder[1].act);  // the output layer
}

}  // namespace
