// The layer plan (src/model/plan.cpp): geometry through a stack, where the one-hot of a
// conditional model enters, the heads, and the checks of the stack rather than of one layer.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "layer_specs.h"
#include "model/plan.h"
#include "test_util.h"

namespace {

using vae_test::error_of;

vae::ModelConfig small_conv(int num_classes) {
  vae::ModelConfig c = vae_test::custom_config(
      6, 2, vae::Activation::Relu, {vae::conv_layer(3, 3, 2, 1), vae::dense_layer(5)},
      {vae::dense_layer(12), vae::reshape_layer(3, 2, 2), vae::conv_transpose_layer(1, 4, 2)});
  c.num_classes = num_classes;
  return c;
}

TEST(ModelPlan, GeometryFlowsThroughTheStacks) {
  const vae::ModelPlan plan = vae::plan_model(small_conv(0));
  ASSERT_EQ(plan.encoder.size(), 2u);
  EXPECT_EQ(plan.encoder[0].name, "encoder.0");
  EXPECT_EQ(plan.encoder[0].out_size(), 3u * 3 * 3);
  EXPECT_EQ(plan.encoder[1].in_c, 27);  // the dense layer reads the conv's output flat
  EXPECT_EQ(plan.mu_head.name, "encoder.mu");
  EXPECT_EQ(plan.logvar_head.in_c, 5);
  EXPECT_EQ(plan.logvar_head.out_c, 2);
  EXPECT_FALSE(plan.mu_head.act);
  ASSERT_EQ(plan.decoder.size(), 3u);
  EXPECT_EQ(plan.decoder[1].name, "decoder.1");
  EXPECT_EQ(plan.decoder[2].name, "decoder.out");
  EXPECT_FALSE(plan.decoder[2].act);
  EXPECT_TRUE(plan.decoder[1].act);
  EXPECT_EQ(plan.decoder[2].out_h, 6);
}

TEST(ModelPlan, TheOneHotGoesToTheFirstDenseLayerOfEachStack) {
  const vae::ModelPlan plan = vae::plan_model(small_conv(4));
  EXPECT_EQ(plan.encoder[0].cond, 0);  // conv: the one-hot waits for a dense layer
  EXPECT_EQ(plan.encoder[1].cond, 4);
  EXPECT_EQ(plan.mu_head.cond, 0);
  EXPECT_EQ(plan.decoder[0].cond, 4);
  // Without a dense encoder layer the heads read [x, one-hot].
  vae::ModelConfig linear;
  linear.input_dim = 6;
  linear.channels = linear.height = linear.width = 0;
  linear.hidden.clear();
  linear.num_classes = 3;
  const vae::ModelPlan heads = vae::plan_model(linear);
  EXPECT_EQ(heads.mu_head.cond, 3);
  EXPECT_EQ(heads.logvar_head.in_c, 6);
}

TEST(ModelPlan, StackErrorsNameTheField) {
  vae::ModelConfig unset = small_conv(0);
  unset.encoder[1].kind = nullptr;
  EXPECT_EQ(error_of([&] { vae::plan_model(unset); }), "encoder[1].type: missing");
  vae::ModelConfig ends_in_reshape = small_conv(0);
  ends_in_reshape.decoder = {vae::dense_layer(36), vae::reshape_layer(1, 6, 6)};
  EXPECT_EQ(error_of([&] { vae::plan_model(ends_in_reshape); }),
            "decoder: the last layer is the output layer and cannot be a reshape (it computes nothing)");
  vae::ModelConfig huge = small_conv(0);
  huge.encoder = {vae::conv_layer(4096, 1)};
  huge.height = huge.width = 65;
  huge.input_dim = 65 * 65;
  EXPECT_EQ(error_of([&] { vae::plan_model(huge); }),
            "encoder[0]: gives 4096x65x65 values per example, more than 16777216");
  vae::ModelConfig empty = small_conv(0);
  empty.decoder.clear();
  EXPECT_EQ(error_of([&] { vae::plan_model(empty); }), "decoder: needs at least its output layer");
}

}  // namespace
