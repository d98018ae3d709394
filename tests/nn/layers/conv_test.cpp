// The conv layer kind (src/nn/layers/conv.cpp): its JSON form and errors, its plan and the
// messages of its checks, its parameters' names and layout (torch.nn.Conv2d's), and its calls
// through the row.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "layer_check.h"
#include "nn/layers/conv.h"
#include "test_util.h"

namespace {

using vae_test::error_of;
using vae_test::plan_one;

TEST(ConvLayer, JsonRoundTripAndErrors) {
  vae_test::expect_json_round_trip(vae::conv_layer(32, 4, 2, 1),
                                   R"({"channels":32,"kernel":4,"padding":1,"stride":2,"type":"conv"})");
  EXPECT_EQ(vae::kConvKind.token(vae::conv_layer(32, 4, 2, 1)), "conv32k4s2");
  // stride and padding are optional.
  EXPECT_TRUE(vae::layer_from_json(nlohmann::json::parse(R"({"type": "conv", "channels": 4,
              "kernel": 3})"), "e") == vae::conv_layer(4, 3));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"type": "conv", "kernel": 3})", "encoder[0].channels: missing"},
      {R"({"type": "conv", "channels": 4})", "encoder[0].kernel: missing"},
      {R"({"type": "conv", "channels": 4, "kernel": 3, "stride": "2"})",
       "encoder[0].stride: must be an integer"},
      {R"({"type": "conv", "channels": 4, "kernel": 3, "output_padding": 1})",
       "encoder[0].output_padding: not a field of a conv layer"},
  };
  vae_test::expect_read_errors(bad, "encoder[0]");
}

TEST(ConvLayer, PlanGivesTheOutputImage) {
  const vae::PlannedLayer l = plan_one(vae::conv_layer(32, 4, 2, 1), 1, 28, 28, true);
  EXPECT_EQ(vae_test::param_names(l), (std::vector<std::string>{"encoder.0.weight 32x1x4x4",
                                                                "encoder.0.bias 32"}));
  EXPECT_EQ(l.out_c, 32);
  EXPECT_EQ(l.out_h, 14);
  EXPECT_EQ(l.out_w, 14);
  const vae::PlannedLayer odd = plan_one(vae::conv_layer(2, 3, 2, 1), 1, 27, 9, true);
  EXPECT_EQ(odd.out_h, 14);
  EXPECT_EQ(odd.out_w, 5);
}

TEST(ConvLayer, PlanErrorsNameTheField) {
  vae::LayerSpec padded = vae::conv_layer(4, 3);
  padded.output_padding = 1;
  const std::vector<std::pair<vae::LayerSpec, std::string>> bad = {
      {vae::conv_layer(0, 3), "encoder[0].channels: must be in 1..4096, got 0"},
      {vae::conv_layer(4, 0), "encoder[0].kernel: must be in 1..64, got 0"},
      {vae::conv_layer(4, 3, 0), "encoder[0].stride: must be in 1..64, got 0"},
      {vae::conv_layer(4, 3, 1, -1), "encoder[0].padding: must be in 0..64, got -1"},
      {padded, "encoder[0].output_padding: only conv_transpose layers take output_padding"},
      {vae::conv_layer(4, 40), "encoder[0].kernel: the kernel (40) is larger than the padded "
                               "1x28x28 input"},
  };
  vae_test::expect_plan_errors(bad, 1, 28, 28, true);
  EXPECT_EQ(error_of([&] { plan_one(vae::conv_layer(4, 3), 16, 1, 1, false); }),
            "encoder[0]: conv needs an image input, but its input is flat (16 values); put a "
            "reshape before it");
}

TEST(ConvLayer, ForwardIsConv2dWithWeightThenBias) {
  const vae::PlannedLayer l = plan_one(vae::conv_layer(3, 3, 2, 1), 2, 5, 5, true);
  const int B = 2;
  const vae::ConvShape s = vae::conv_shape(l, B);
  const size_t weights = 3 * 2 * 3 * 3;
  vae::Rng rng(3);
  std::vector<double> x(B * l.in_size()), params(weights + 3), y(B * l.out_size()),
      expected(y.size()), scratch(vae::kConvKind.scratch_size(l, B));
  vae_test::fill_uniform(x, rng);
  vae_test::fill_uniform(params, rng);
  vae::kConvKind.calls<double>().forward(y.data(), nullptr, x.data(), params.data(), l, B,
                                         scratch.data());
  vae::conv2d_reference_forward(expected.data(), x.data(), params.data(), params.data() + weights, s);
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], expected[i], 1e-12);
}

TEST(ConvLayer, CallsMatchFiniteDifferences) {
  vae_test::check_layer_calls(plan_one(vae::conv_layer(3, 3, 2, 1), 2, 5, 5, true), 2);
  vae_test::check_layer_calls(plan_one(vae::conv_layer(2, 2), 1, 3, 4, true), 3);
}

}  // namespace
