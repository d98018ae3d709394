// The reshape layer kind (src/nn/layers/reshape.cpp): its JSON form and errors, and its plan (a
// view: no parameters, no scratch, no calls).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "layer_check.h"
#include "nn/layers/reshape.h"
#include "test_util.h"

namespace {

using vae_test::error_of;
using vae_test::plan_one;

TEST(ReshapeLayer, JsonRoundTripAndErrors) {
  vae_test::expect_json_round_trip(vae::reshape_layer(64, 7, 7),
                                   R"({"shape":[64,7,7],"type":"reshape"})");
  EXPECT_EQ(vae::kReshapeKind.token(vae::reshape_layer(64, 7, 7)), "r64x7x7");
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"type": "reshape"})", "decoder[1].shape: missing"},
      {R"({"type": "reshape", "shape": [1, 2]})", "decoder[1].shape: must be [channels, height, width]"},
      {R"({"type": "reshape", "shape": 4})", "decoder[1].shape: must be [channels, height, width]"},
      {R"({"type": "reshape", "shape": [1, 2, "x"]})", "decoder[1].shape[2]: must be an integer"},
      {R"({"type": "reshape", "shape": [1, 2, 3], "units": 6})",
       "decoder[1].units: not a field of a reshape layer"},
  };
  vae_test::expect_read_errors(bad, "decoder[1]");
}

TEST(ReshapeLayer, PlanReadsTheInputAsAnImage) {
  vae::PlannedLayer l;
  l.spec = vae::reshape_layer(64, 7, 7);
  l.in_c = 3136;
  EXPECT_TRUE(vae::kReshapeKind.plan(l, false, "decoder[1]"));  // its output is an image
  EXPECT_EQ(l.out_c, 64);
  EXPECT_EQ(l.out_h, 7);
  EXPECT_EQ(l.out_w, 7);
  EXPECT_TRUE(vae::kReshapeKind.view);
  EXPECT_TRUE(vae_test::param_names(l).empty());
  EXPECT_EQ(vae::kReshapeKind.scratch_size(l, 128), 0u);
  EXPECT_EQ(error_of([&] { plan_one(vae::reshape_layer(4, 5, 6), 100, 1, 1, false); }),
            "encoder[0].shape: 4x5x6 holds 120 values but its input has 100");
  EXPECT_EQ(error_of([&] { plan_one(vae::reshape_layer(4, 0, 6), 100, 1, 1, false); }),
            "encoder[0].shape: must be in 1..65536, got 0");
}

}  // namespace
