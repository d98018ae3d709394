// The layer table (src/nn/layers/registry.cpp): every row is complete and round-trips through
// JSON and describe(), lookups by type name, and the messages of the generic layer reader.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "layer_check.h"
#include "test_util.h"
#include "vae/model.h"

namespace {

using vae_test::error_of;

TEST(LayerTable, EveryRowRoundTripsThroughJsonAndDescribe) {
  std::set<std::string> types, tokens;
  for (const vae::LayerKind* kind : vae::layer_kinds()) {
    SCOPED_TRACE(kind->type);
    EXPECT_TRUE(types.insert(kind->type).second) << "two rows share a type name";
    EXPECT_EQ(vae::find_layer_kind(kind->type), kind);
    EXPECT_STREQ(vae::layer_kind_name(kind), kind->type);
    EXPECT_EQ(std::string(kind->summary).rfind(std::string(kind->type) + " ", 0), 0u);
    // The example reads as this kind, writes back the same JSON, and every key is written.
    const nlohmann::json example = nlohmann::json::parse(kind->example);
    const vae::LayerSpec s = vae::layer_from_json(example, "encoder[0]");
    EXPECT_EQ(s.kind, kind);
    const nlohmann::json written = vae::layer_to_json(s);
    EXPECT_EQ(written, example);
    for (const char* const* key = kind->keys; *key; ++key) EXPECT_TRUE(written.contains(*key)) << *key;
    EXPECT_TRUE(vae::layer_from_json(written, "encoder[0]") == s);
    // describe(): one token per layer, no spaces, telling the kinds' examples apart.
    const std::string token = kind->token(s);
    EXPECT_EQ(vae::layers_token({s}), " " + token);
    EXPECT_FALSE(token.empty());
    EXPECT_EQ(token.find(' '), std::string::npos);
    EXPECT_TRUE(tokens.insert(token).second) << token;
    // Every function of a row is set; a view makes no calls.
    EXPECT_TRUE(kind->read && kind->write && kind->token && kind->plan && kind->params &&
                kind->scratch_size && kind->saved_size);
    if (!kind->view) {
      EXPECT_TRUE(kind->f32.forward && kind->f32.backward && kind->f64.forward &&
                  kind->f64.backward);
    }
  }
  EXPECT_EQ(vae::find_layer_kind("pool"), nullptr);
}

TEST(LayerTable, ReaderErrorsNameTheFieldAndListTheKinds) {
  // The kinds in table order: "dense, gated_dense, conv, conv_transpose or reshape" today.
  std::string listed, alternatives;
  const auto& kinds = vae::layer_kinds();
  for (size_t k = 0; k < kinds.size(); ++k) {
    listed += (k ? ", " : "") + std::string(kinds[k]->type);
    alternatives += (k == 0 ? "" : k + 1 == kinds.size() ? " or " : ", ") + std::string(kinds[k]->type);
  }
  EXPECT_EQ(listed.rfind("dense, gated_dense, conv, conv_transpose, reshape", 0), 0u);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"3", R"(encoder[2]: must be an object such as {"type": "dense", "units": 256})"},
      {R"({"units": 3})", "encoder[2].type: missing (" + alternatives + ")"},
      {R"({"type": 3})", "encoder[2].type: missing (" + alternatives + ")"},
      {R"({"type": "pool"})", "encoder[2].type: 'pool' is not one of " + listed},
  };
  vae_test::expect_read_errors(bad, "encoder[2]");
  EXPECT_EQ(error_of([&] { vae::layers_from_json(nlohmann::json::object(), "decoder"); }),
            "decoder: must be a list of layers");
}

TEST(LayerTable, AModelOfEveryKindRoundTripsThroughItsCheckpointJson) {
  vae::ModelConfig cfg;
  vae::set_conv_preset(cfg);  // conv, dense, reshape and conv_transpose layers
  const vae::ModelConfig back = vae::ModelConfig::from_json(cfg.to_json(), "ckpt");
  EXPECT_TRUE(back.encoder == cfg.encoder);
  EXPECT_TRUE(back.decoder == cfg.decoder);
  EXPECT_EQ(back.describe(), cfg.describe());
  EXPECT_EQ(back.to_description(), cfg.to_description());
}

}  // namespace
