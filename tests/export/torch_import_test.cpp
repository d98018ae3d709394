// The import description (src/export/torch_import.cpp): the data's shape over a model
// description, the conv preset, and one error per thing that is wrong, naming the file and field.
// (tests/tools/vae/cmd_import_test.cpp runs vae import on weights.)
#include <gtest/gtest.h>

#include <string>

#include "export/torch_import.h"
#include "test_util.h"

namespace {

vae::ModelConfig parse(const std::string& text) {
  return vae::parse_import_description(text, "model.json");
}

std::string error_for(const std::string& text) {
  return vae_test::error_of([&] { parse(text); });
}

TEST(ImportDescription, FlatRowsWithAnMlp) {
  const vae::ModelConfig c = parse(R"({"input_dim": 6, "hidden": [8, 4], "latent": 2})");
  EXPECT_EQ(c.input_dim, 6);
  EXPECT_EQ(c.channels, 0);
  EXPECT_EQ(c.hidden, (std::vector<int>{8, 4}));
  EXPECT_EQ(c.latent, 2);
  EXPECT_EQ(c.num_classes, 0);
  EXPECT_EQ(c.arch, vae::Arch::Mlp);
}

TEST(ImportDescription, ImagesWithTheConvPresetAndClasses) {
  const vae::ModelConfig c =
      parse(R"({"image": [1, 8, 8], "arch": "conv", "num_classes": 3, "latent": 4})");
  EXPECT_EQ(c.input_dim, 64);
  EXPECT_EQ(c.height, 8);
  EXPECT_EQ(c.arch, vae::Arch::Conv);
  EXPECT_EQ(c.num_classes, 3);
  EXPECT_EQ(c.encoder.size(), 3u);  // conv 32, conv 64, dense 256
  EXPECT_EQ(c.decoder.size(), 5u);
}

TEST(ImportDescription, ErrorsNameTheFileAndTheField) {
  EXPECT_NE(error_for(R"({"hidden": [8]})").find("model.json: give the data's shape"),
            std::string::npos);
  EXPECT_NE(error_for(R"({"input_dim": 6, "image": [1, 2, 3]})").find("one of them"),
            std::string::npos);
  EXPECT_NE(error_for(R"({"image": [1, 8]})").find("model.json: image: must be [C, H, W]"),
            std::string::npos);
  EXPECT_NE(error_for(R"({"input_dim": 0})").find("model.json: input_dim: must be a positive"),
            std::string::npos);
  EXPECT_NE(error_for(R"({"input_dim": 6, "arch": "conv"})").find("conv preset"),
            std::string::npos);
  EXPECT_NE(error_for(R"({"input_dim": 6, "depth": 3})").find("model.json: depth: unknown field"),
            std::string::npos);
  EXPECT_NE(error_for("[1").find("model.json: not valid JSON"), std::string::npos);
}

}  // namespace
