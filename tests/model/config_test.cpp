// Model configuration (src/model/config.cpp): the conv preset's shapes, the JSON model
// description and its field-named errors, and the checkpoint JSON round trip.
#include <gtest/gtest.h>

#include <string>

#include "test_util.h"
#include "vae/error.h"
#include "vae/model.h"

namespace {

vae::ModelConfig image_config(int c, int h, int w) {
  vae::ModelConfig cfg;
  cfg.channels = c;
  cfg.height = h;
  cfg.width = w;
  cfg.input_dim = c * h * w;
  return cfg;
}

using vae_test::error_of;

TEST(ConvPreset, MirrorsAnyImageSizeBackToItself) {
  for (auto [c, h, w] : {std::tuple{1, 28, 28}, {3, 32, 32}, {1, 27, 27}, {2, 5, 9}, {1, 4, 4},
                         {3, 64, 48}}) {
    vae::ModelConfig cfg = image_config(c, h, w);
    vae::set_conv_preset(cfg);
    EXPECT_NO_THROW(cfg.validate()) << c << "x" << h << "x" << w;
    // The last layer's weight is (32, C, k, k): a conv_transpose to the data's channels.
    const auto t = vae::param_table(cfg);
    EXPECT_EQ(t.back().name, "decoder.out.bias");
    EXPECT_EQ(t.back().shape, (std::vector<int64_t>{c}));
  }
  vae::ModelConfig fm = image_config(1, 28, 28);
  vae::set_conv_preset(fm);
  EXPECT_EQ(fm.describe(),
            "1x28x28 conv32k4s2 conv64k4s2 d256 | z20 | d256 d3136 r64x7x7 convT32k4s2 convT1k4s2 conv");
}

TEST(ConvPreset, RefusesWhatItCannotMirror) {
  vae::ModelConfig tiny = image_config(1, 3, 3);
  EXPECT_NE(error_of([&] { vae::set_conv_preset(tiny); }).find("at least 4x4"), std::string::npos);
  vae::ModelConfig mixed = image_config(1, 28, 27);
  EXPECT_NE(error_of([&] { vae::set_conv_preset(mixed); }).find("describe the layers"),
            std::string::npos);
  vae::ModelConfig flat;
  flat.channels = flat.height = flat.width = 0;
  flat.input_dim = 30;
  EXPECT_NE(error_of([&] { vae::set_conv_preset(flat); }).find("image"), std::string::npos);
}

TEST(ModelDescription, ParsesLayersOverTheDefaults) {
  const std::string text = R"({
    "encoder": [{"type": "conv", "channels": 8, "kernel": 4, "stride": 2, "padding": 1},
                {"type": "dense", "units": 64}],
    "decoder": [{"type": "dense", "units": 392}, {"type": "reshape", "shape": [8, 7, 7]},
                {"type": "conv_transpose", "channels": 1, "kernel": 4, "stride": 4}],
    "latent": 6, "activation": "elu", "likelihood": "gaussian", "sigma": "learned"})";
  vae::ModelConfig cfg = vae::parse_model_config(text, "m.json", image_config(1, 28, 28));
  EXPECT_EQ(cfg.arch, vae::Arch::Custom);
  EXPECT_EQ(cfg.latent, 6);
  EXPECT_EQ(cfg.activation, vae::Activation::Elu);
  EXPECT_EQ(cfg.likelihood, vae::Likelihood::GaussianLearnedSigma);
  ASSERT_EQ(cfg.encoder.size(), 2u);
  EXPECT_EQ(cfg.encoder[0].kind, vae::find_layer_kind("conv"));
  EXPECT_EQ(cfg.encoder[0].units, 8);
  EXPECT_EQ(cfg.decoder[1].shape[2], 7);
  EXPECT_NO_THROW(cfg.validate());
  // The checkpoint's JSON holds the layers and gives back the same model.
  const vae::ModelConfig back = vae::ModelConfig::from_json(cfg.to_json(), "ckpt");
  EXPECT_EQ(back.to_json(), cfg.to_json());
  EXPECT_EQ(vae::param_count(back), vae::param_count(cfg));
  // An MLP description.
  const vae::ModelConfig mlp =
      vae::parse_model_config(R"({"hidden": [64, 32], "sigma": 0.5})", "m.json", vae::ModelConfig{});
  EXPECT_EQ(mlp.arch, vae::Arch::Mlp);
  EXPECT_EQ(mlp.hidden, (std::vector<int>{64, 32}));
  EXPECT_DOUBLE_EQ(mlp.sigma, 0.5);
}

TEST(ModelDescription, ErrorsNameTheFile_AndTheField) {
  const vae::ModelConfig base = image_config(1, 28, 28);
  struct Bad {
    std::string json, expected;
  };
  const std::vector<Bad> cases = {
      {"[1, 2]", "m.json: must be a JSON object"},
      {"{\"encoder\": [", "m.json: not valid JSON"},
      {R"({"latnet": 5})", "m.json: latnet: unknown field"},
      {R"({"encoder": []})", "m.json: decoder: missing"},
      {R"({"encoder": [{"type": "dense"}], "decoder": []})", "m.json: encoder[0].units: missing"},
      {R"({"encoder": [{"type": "dense", "units": "many"}], "decoder": []})",
       "m.json: encoder[0].units: must be an integer"},
      {R"({"encoder": [{"type": "pool"}], "decoder": []})", "m.json: encoder[0].type: 'pool'"},
      {R"({"encoder": [{"type": "conv", "channels": 4, "kernel": 3, "chanels": 2}], "decoder": []})",
       "m.json: encoder[0].chanels: not a field of a conv layer"},
      {R"({"encoder": [], "decoder": [{"type": "reshape", "shape": [1, 2]}]})",
       "m.json: decoder[0].shape: must be [channels, height, width]"},
      {R"({"hidden": [4], "encoder": [], "decoder": []})", "m.json: hidden: give either"},
      {R"({"sigma": "big"})", "m.json: sigma: must be a number or \"learned\""},
      {R"({"activation": "swish"})", "m.json: activation:"},
  };
  for (const Bad& b : cases) {
    const std::string msg = error_of([&] { vae::parse_model_config(b.json, "m.json", base); });
    EXPECT_EQ(msg.rfind(b.expected, 0), 0u) << b.json << "\n -> " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(ModelDescription, StacksThatDoNotFitTheDataNameTheLayer) {
  const vae::ModelConfig base = image_config(1, 28, 28);
  struct Bad {
    std::string json, expected;
  };
  const std::vector<Bad> cases = {
      {R"({"encoder": [{"type": "conv", "channels": 4, "kernel": 0}],
           "decoder": [{"type": "dense", "units": 784}]})",
       "encoder[0].kernel: must be in 1..64, got 0"},
      {R"({"encoder": [{"type": "conv", "channels": 4, "kernel": 40}],
           "decoder": [{"type": "dense", "units": 784}]})",
       "encoder[0].kernel: the kernel (40) is larger than the padded 1x28x28 input"},
      {R"({"encoder": [{"type": "dense", "units": 16}, {"type": "conv", "channels": 4, "kernel": 3}],
           "decoder": [{"type": "dense", "units": 784}]})",
       "encoder[1]: conv needs an image input"},
      {R"({"encoder": [], "decoder": [{"type": "dense", "units": 100},
           {"type": "reshape", "shape": [4, 5, 6]}, {"type": "dense", "units": 784}]})",
       "decoder[1].shape: 4x5x6 holds 120 values but its input has 100"},
      {R"({"encoder": [], "decoder": [{"type": "dense", "units": 100},
           {"type": "reshape", "shape": [4, 5, 5]},
           {"type": "conv_transpose", "channels": 1, "kernel": 4, "stride": 2}]})",
       "decoder: gives 1x12x12 but the data are 1x28x28"},
      {R"({"encoder": [], "decoder": [{"type": "dense", "units": 700}]})",
       "decoder: gives 700 values per example but the data have 784"},
      {R"({"encoder": [], "decoder": [{"type": "dense", "units": 100},
           {"type": "reshape", "shape": [4, 5, 5]},
           {"type": "conv_transpose", "channels": 1, "kernel": 4, "stride": 2, "output_padding": 2}]})",
       "decoder[2].output_padding: must be in 0..1, got 2"},
  };
  for (const Bad& b : cases) {
    const vae::ModelConfig cfg = vae::parse_model_config(b.json, "m.json", base);
    const std::string msg = error_of([&] { cfg.validate(); });
    EXPECT_EQ(msg.rfind(b.expected, 0), 0u) << b.json << "\n -> " << msg;
  }
  // A conditional decoder must start with a dense layer.
  vae::ModelConfig cond = vae::parse_model_config(
      R"({"encoder": [], "decoder": [{"type": "reshape", "shape": [20, 1, 1]},
          {"type": "conv_transpose", "channels": 1, "kernel": 28}]})",
      "m.json", base);
  EXPECT_NO_THROW(cond.validate());
  cond.num_classes = 10;
  EXPECT_NE(error_of([&] { cond.validate(); }).find("decoder[0]: a conditional decoder must start with a dense layer"),
            std::string::npos);
}

// Found by fuzzing: a float where an integer belongs (1e20) was cast unchecked (undefined
// behaviour). Now it is an error naming the field.
TEST(ModelConfigJson, FloatsWhereIntegersBelongAreErrors) {
  const std::string good = vae::ModelConfig{}.to_json();
  for (const std::string key : {"input_dim", "latent", "height", "width", "channels", "num_classes"}) {
    std::string bad = good;
    const size_t at = bad.find("\"" + key + "\":");
    ASSERT_NE(at, std::string::npos) << key;
    const size_t value = at + key.size() + 3, end = bad.find_first_of(",}", value);
    bad.replace(value, end - value, "1e20");
    const std::string msg = error_of([&] { vae::ModelConfig::from_json(bad, "ck"); });
    EXPECT_NE(msg.find(key + ": must be an integer"), std::string::npos) << key << ": " << msg;
  }
  std::string bad = good;
  bad.replace(bad.find("[400]"), 5, "[4.5e9]");
  EXPECT_NE(error_of([&] { vae::ModelConfig::from_json(bad, "ck"); }).find("hidden[0]"),
            std::string::npos);
}

TEST(ModelConfigJson, CheckpointsWrittenBeforeTheLayerFieldsStillLoad) {
  // A version-1 model config as the first releases wrote it: no arch, layers or classes.
  const std::string old = R"({"input_dim":784,"hidden":[400],"latent":20,"activation":"relu",
      "likelihood":"bernoulli","sigma":1.0,"height":28,"width":28,"channels":1,
      "decoder":"mirror","posterior":"diagonal_gaussian","prior":"standard_normal"})";
  const vae::ModelConfig c = vae::ModelConfig::from_json(old, "old.safetensors");
  EXPECT_EQ(c.arch, vae::Arch::Mlp);
  EXPECT_EQ(c.num_classes, 0);
  EXPECT_EQ(c.likelihood, vae::Likelihood::Bernoulli);
  EXPECT_EQ(vae::param_count(c), 652824u);
}

}  // namespace
