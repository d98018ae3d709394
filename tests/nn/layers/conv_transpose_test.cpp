// The conv_transpose layer kind (src/nn/layers/conv_transpose.cpp): its JSON form and errors,
// its plan and the messages of its checks, its parameters' names and layout
// (torch.nn.ConvTranspose2d's: input channels first), and its calls through the row.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "layer_check.h"
#include "nn/layers/conv.h"
#include "nn/layers/conv_transpose.h"
#include "test_util.h"

namespace {

using vae_test::error_of;
using vae_test::plan_one;

TEST(ConvTransposeLayer, JsonRoundTripAndErrors) {
  vae_test::expect_json_round_trip(
      vae::conv_transpose_layer(1, 3, 2, 1, 1),
      R"({"channels":1,"kernel":3,"output_padding":1,"padding":1,"stride":2,"type":"conv_transpose"})");
  EXPECT_EQ(vae::kConvTransposeKind.token(vae::conv_transpose_layer(32, 4, 2, 1)), "convT32k4s2");
  EXPECT_TRUE(vae::layer_from_json(nlohmann::json::parse(R"({"type": "conv_transpose",
              "channels": 2, "kernel": 4})"), "d") == vae::conv_transpose_layer(2, 4));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"type": "conv_transpose", "channels": 2})", "decoder[3].kernel: missing"},
      {R"({"type": "conv_transpose", "channels": 2, "kernel": 4, "output_padding": 0.5})",
       "decoder[3].output_padding: must be an integer"},
      {R"({"type": "conv_transpose", "channels": 2, "kernel": 4, "dilation": 2})",
       "decoder[3].dilation: not a field of a conv_transpose layer"},
  };
  vae_test::expect_read_errors(bad, "decoder[3]");
}

TEST(ConvTransposeLayer, PlanGivesTheOutputImage) {
  const vae::PlannedLayer l = plan_one(vae::conv_transpose_layer(1, 4, 2, 1), 4, 7, 7, true);
  EXPECT_EQ(vae_test::param_names(l), (std::vector<std::string>{"encoder.0.weight 4x1x4x4",
                                                                "encoder.0.bias 1"}));
  EXPECT_EQ(l.out_c, 1);
  EXPECT_EQ(l.out_h, 14);
  EXPECT_EQ(l.out_w, 14);
  // The mirror of conv k3 s2 p1 on an odd side: 14 → 27 with output_padding 0, 28 with 1.
  EXPECT_EQ(plan_one(vae::conv_transpose_layer(1, 3, 2, 1), 2, 14, 14, true).out_h, 27);
  EXPECT_EQ(plan_one(vae::conv_transpose_layer(1, 3, 2, 1, 1), 2, 14, 14, true).out_h, 28);
}

TEST(ConvTransposeLayer, PlanErrorsNameTheField) {
  const std::vector<std::pair<vae::LayerSpec, std::string>> bad = {
      {vae::conv_transpose_layer(5000, 3), "encoder[0].channels: must be in 1..4096, got 5000"},
      {vae::conv_transpose_layer(1, 65), "encoder[0].kernel: must be in 1..64, got 65"},
      {vae::conv_transpose_layer(1, 4, 2, 1, 2), "encoder[0].output_padding: must be in 0..1, got 2"},
      {vae::conv_transpose_layer(1, 1, 1, 3), "encoder[0]: the output of a 1x2x2 input would be empty"},
  };
  vae_test::expect_plan_errors(bad, 1, 2, 2, true);
  EXPECT_EQ(error_of([&] { plan_one(vae::conv_transpose_layer(1, 4), 20, 1, 1, false); }),
            "encoder[0]: conv_transpose needs an image input, but its input is flat (20 values); "
            "put a reshape before it");
}

TEST(ConvTransposeLayer, ForwardIsConvTranspose2dWithWeightThenBias) {
  const vae::PlannedLayer l = plan_one(vae::conv_transpose_layer(2, 3, 2, 1, 1), 3, 3, 3, true);
  const int B = 2;
  const size_t weights = 3 * 2 * 3 * 3;
  vae::Rng rng(3);
  std::vector<double> x(B * l.in_size()), params(weights + 2), y(B * l.out_size()),
      expected(y.size()), scratch(vae::kConvTransposeKind.scratch_size(l, B));
  vae_test::fill_uniform(x, rng);
  vae_test::fill_uniform(params, rng);
  vae::kConvTransposeKind.calls<double>().forward(y.data(), nullptr, x.data(), params.data(), l,
                                                  B, scratch.data());
  vae::conv_transpose2d_reference_forward(expected.data(), x.data(), params.data(),
                                          params.data() + weights, vae::conv_shape(l, B));
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], expected[i], 1e-12);
}

TEST(ConvTransposeLayer, CallsMatchFiniteDifferences) {
  vae_test::check_layer_calls(plan_one(vae::conv_transpose_layer(2, 3, 2, 1, 1), 3, 3, 3, true), 2);
  vae_test::check_layer_calls(plan_one(vae::conv_transpose_layer(1, 4, 2), 2, 2, 3, true), 3);
}

}  // namespace
