// Checkpoints: save → load gives the same model outputs; every truncation and a range of
// mangled headers are clean errors naming the file.
#include "vae/checkpoint.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "test_util.h"
#include "vae/error.h"

namespace {

vae::Checkpoint small_checkpoint() {
  vae::Checkpoint c;
  c.model.input_dim = 12;
  c.model.hidden = {6, 5};
  c.model.latent = 3;
  c.model.height = 3;
  c.model.width = 4;
  c.model.channels = 1;
  c.model.activation = vae::Activation::Tanh;
  c.train.seed = 77;
  c.train.binarize = vae::Binarize::Dynamic;
  vae::Vae<float> model(c.model, 4);
  vae::Rng rng(3);
  model.init_params(rng);
  c.params.assign(model.params(), model.params() + model.num_params());
  c.adam_m.resize(c.params.size());
  c.adam_v.resize(c.params.size());
  for (size_t i = 0; i < c.params.size(); ++i) {
    c.adam_m[i] = static_cast<float>(rng.uniform() - 0.5);
    c.adam_v[i] = static_cast<float>(rng.uniform());
  }
  c.adam_step = 123;
  c.state.epoch = 4;
  c.state.step = 123;
  c.state.best_test_loss = 201.5;
  c.state.best_epoch = 3;
  for (int i = 0; i < 50; ++i) rng.next();
  c.state.rng = rng.state();
  return c;
}

void expect_error_naming(const std::string& path, const std::string& fragment = "") {
  try {
    vae::load_checkpoint(path);
    ADD_FAILURE() << "loaded a bad checkpoint";
  } catch (const vae::Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path, 0), 0u) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    if (!fragment.empty()) {
      EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
    }
  }
}

TEST(Checkpoint, SaveLoadRoundTripKeepsEverything) {
  vae_test::TempDir dir;
  const vae::Checkpoint c = small_checkpoint();
  const std::string path = dir.file("c.safetensors");
  vae::save_checkpoint(path, c);
  const vae::Checkpoint r = vae::load_checkpoint(path);
  EXPECT_EQ(r.model.to_json(), c.model.to_json());
  EXPECT_EQ(r.train.to_json(), c.train.to_json());
  EXPECT_EQ(r.state.to_json(), c.state.to_json());
  EXPECT_EQ(r.state.rng, c.state.rng);
  EXPECT_EQ(r.params, c.params);
  EXPECT_EQ(r.adam_m, c.adam_m);
  EXPECT_EQ(r.adam_v, c.adam_v);
  EXPECT_EQ(r.adam_step, 123);
  EXPECT_FALSE(vae_test::exists(path + ".tmp"));
}

TEST(Checkpoint, LoadedModelGivesTheSameOutputs) {
  vae_test::TempDir dir;
  const vae::Checkpoint c = small_checkpoint();
  vae::save_checkpoint(dir.file("c.safetensors"), c);
  vae::Vae<float> a = vae::model_from_checkpoint(c, 4);
  vae::Vae<float> b = vae::model_from_checkpoint(vae::load_checkpoint(dir.file("c.safetensors")), 4);
  std::vector<float> x(4 * 12), eps(4 * 3), za(4 * 3), zb(4 * 3);
  vae::Rng rng(9);
  for (float& v : x) v = rng.uniform_float();
  rng.normal_fill(eps.data(), eps.size());
  const auto la = a.forward(x.data(), eps.data(), 4);
  const auto lb = b.forward(x.data(), eps.data(), 4);
  EXPECT_EQ(la.recon, lb.recon);
  EXPECT_EQ(la.kl, lb.kl);
}

TEST(Checkpoint, NamesTensorsLikePyTorch) {
  vae_test::TempDir dir;
  vae::save_checkpoint(dir.file("c.safetensors"), small_checkpoint());
  const vae::SafeTensors st = vae::read_safetensors(dir.file("c.safetensors"));
  for (const char* name : {"encoder.0.weight", "encoder.1.bias", "encoder.mu.weight",
                           "encoder.logvar.bias", "decoder.0.weight", "decoder.out.bias",
                           "optimizer.exp_avg.encoder.0.weight", "optimizer.exp_avg_sq.decoder.out.bias",
                           "optimizer.step"})
    EXPECT_NE(st.find(name), nullptr) << name;
  EXPECT_EQ(st.find("encoder.0.weight")->shape, (std::vector<int64_t>{6, 12}));
  EXPECT_EQ(st.metadata.at("format"), "vae.cpp");
  EXPECT_EQ(st.metadata.at("format_version"), "1");
}

TEST(Checkpoint, EveryTruncationIsACleanError) {
  vae_test::TempDir dir;
  const std::string good = dir.file("good.safetensors");
  vae::save_checkpoint(good, small_checkpoint());
  const std::string bytes = vae_test::read_bytes(good);
  const std::string bad = dir.file("cut.safetensors");
  for (size_t n = 0; n < bytes.size(); n += (n < 2000 ? 1 : 37)) {
    vae_test::write_bytes(bad, bytes.substr(0, n));
    expect_error_naming(bad);
  }
}

TEST(Checkpoint, MangledContentsAreCleanErrors) {
  vae_test::TempDir dir;
  const vae::Checkpoint c = small_checkpoint();
  const std::string path = dir.file("c.safetensors");

  auto rewrite = [&](auto&& edit) {
    vae::save_checkpoint(path, c);
    vae::SafeTensors st = vae::read_safetensors(path);
    edit(st);
    vae::write_safetensors(path, st);
  };
  rewrite([](vae::SafeTensors& st) { st.metadata["format"] = "other"; });
  expect_error_naming(path, "not a vae.cpp checkpoint");
  rewrite([](vae::SafeTensors& st) { st.metadata["format_version"] = "99"; });
  expect_error_naming(path, "version 99");
  rewrite([](vae::SafeTensors& st) { st.metadata["model"] = "{not json"; });
  expect_error_naming(path, "model config");
  rewrite([](vae::SafeTensors& st) { st.metadata["model"] = R"({"input_dim": 12})"; });
  expect_error_naming(path, "model config");
  rewrite([](vae::SafeTensors& st) { st.metadata["train_state"] = R"({"epoch": 1})"; });
  expect_error_naming(path, "train_state");
  rewrite([](vae::SafeTensors& st) { st.metadata.erase("train_options"); });
  expect_error_naming(path, "train_options");
  rewrite([](vae::SafeTensors& st) { st.tensors.erase(st.tensors.begin()); });
  expect_error_naming(path, "encoder.0.weight");
  rewrite([](vae::SafeTensors& st) {
    st.tensors[0].shape = {12, 6};  // transposed: same size, wrong shape
  });
  expect_error_naming(path, "encoder.0.weight");
  rewrite([](vae::SafeTensors& st) {
    float nan = std::nanf("");
    std::memcpy(st.tensors[0].data.data(), &nan, sizeof nan);
  });
  expect_error_naming(path, "NaN");

  // A header that is not JSON at all.
  std::string bytes = vae_test::read_bytes(path);
  for (size_t i = 8; i < 40; ++i) bytes[i] = '#';
  vae_test::write_bytes(path, bytes);
  expect_error_naming(path);
  expect_error_naming(dir.file("missing.safetensors"));
}

TEST(Checkpoint, RecoveryStateRoundTripsAndOldCheckpointsReadAsBefore) {
  vae_test::TempDir dir;
  const std::string path = dir.file("c.safetensors");
  vae::Checkpoint c = small_checkpoint();
  c.train.max_recoveries = 7;
  c.state.lr = 2.5e-4;
  c.state.recoveries = 2;
  vae::save_checkpoint(path, c);
  vae::Checkpoint r = vae::load_checkpoint(path);
  EXPECT_EQ(r.train.max_recoveries, 7);
  EXPECT_EQ(r.state.lr, 2.5e-4);
  EXPECT_EQ(r.state.recoveries, 2);
  EXPECT_EQ(r.state.lr_or(r.train.lr), 2.5e-4);

  // A checkpoint written before recoveries existed has none of the three keys: it trains on at
  // its options' rate and stops at the first non-finite step, as it did then.
  vae::SafeTensors st = vae::read_safetensors(path);
  auto drop = [&](const std::string& meta, const std::string& key) {
    auto j = nlohmann::json::parse(st.metadata.at(meta));
    ASSERT_TRUE(j.contains(key)) << meta << " has no " << key;
    j.erase(key);
    st.metadata[meta] = j.dump();
  };
  drop("train_options", "max_recoveries");
  drop("train_state", "lr");
  drop("train_state", "recoveries");
  vae::write_safetensors(path, st);
  r = vae::load_checkpoint(path);
  EXPECT_EQ(r.train.max_recoveries, 0);
  EXPECT_EQ(r.state.lr, 0);
  EXPECT_EQ(r.state.recoveries, 0);
  EXPECT_EQ(r.state.lr_or(r.train.lr), c.train.lr);

  // Values no run writes are errors naming the file and the part.
  for (const char* bad : {R"("lr": -1)", R"("recoveries": -3)", R"("lr": "fast")"}) {
    auto j = nlohmann::json::parse(c.state.to_json());
    const auto extra = nlohmann::json::parse(std::string("{") + bad + "}");
    j.update(extra);
    st.metadata["train_state"] = j.dump();
    vae::write_safetensors(path, st);
    SCOPED_TRACE(bad);
    expect_error_naming(path, "train_state");
  }
  st.metadata["train_state"] = c.state.to_json();
  auto o = nlohmann::json::parse(c.train.to_json());
  o["max_recoveries"] = -1;
  st.metadata["train_options"] = o.dump();
  vae::write_safetensors(path, st);
  expect_error_naming(path, "train_options: max_recoveries: must be >= 0");
}

// The data scaling keeps its strings ("kind": "none", "01" or "standardize"); other kinds are
// errors naming the file.
TEST(Checkpoint, DataScalingKindIsWrittenByName) {
  vae_test::TempDir dir;
  const std::string path = dir.file("c.safetensors");
  vae::Checkpoint c = small_checkpoint();
  c.scaler.kind = vae::ScalerKind::ZeroOne;
  c.scaler.clamp01 = true;
  c.scaler.offset.assign(12, 1.0f);
  c.scaler.factor.assign(12, 0.5f);
  vae::save_checkpoint(path, c);
  vae::SafeTensors st = vae::read_safetensors(path);
  EXPECT_EQ(st.metadata.at("data_scaling"), R"({"clamp01":true,"kind":"01"})");
  const vae::Checkpoint r = vae::load_checkpoint(path);
  EXPECT_EQ(r.scaler.kind, vae::ScalerKind::ZeroOne);
  EXPECT_TRUE(r.scaler.clamp01);
  st.metadata["data_scaling"] = R"({"clamp01":false,"kind":"log"})";
  vae::write_safetensors(path, st);
  expect_error_naming(path, "data_scaling: kind: must be 'none', '01' or 'standardize', got 'log'");
}

// Found by fuzzing: a number where an integer belongs (1e20, 2.5, -1.5) was cast unchecked to an
// int (undefined behaviour); each must be an error naming the file, the part and the field.
TEST(Checkpoint, NonIntegerCountsAreErrorsNamingTheField) {
  vae_test::TempDir dir;
  const std::string path = dir.file("c.safetensors");
  const vae::Checkpoint c = small_checkpoint();
  vae::save_checkpoint(path, c);
  const vae::SafeTensors good = vae::read_safetensors(path);
  struct Case {
    const char* meta;
    const char* key;
    nlohmann::json value;
  };
  const std::vector<Case> cases = {
      {"train_options", "epochs", 1e20},        {"train_options", "batch_size", 2.5},
      {"train_options", "seed", -1.5},          {"train_options", "seed", -1},
      {"train_options", "patience", 1e300},     {"train_options", "k", -1e19},
      {"train_options", "max_recoveries", 0.5}, {"train_options", "lr", "fast"},
      {"train_state", "epoch", 1e20},           {"train_state", "step", 3.5},
      {"train_state", "best_epoch", -2},        {"train_state", "recoveries", 1e30},
      {"train_state", "epoch", -1},             {"train_state", "best_test_loss", "low"},
  };
  for (const Case& k : cases) {
    vae::SafeTensors st = good;
    auto j = nlohmann::json::parse(st.metadata.at(k.meta));
    j[k.key] = k.value;
    st.metadata[k.meta] = j.dump();
    vae::write_safetensors(path, st);
    SCOPED_TRACE(std::string(k.meta) + "." + k.key + " = " + k.value.dump());
    expect_error_naming(path, std::string(k.meta) + ": " + k.key);
  }
}

// Found by fuzzing: a 928-byte file whose model metadata describes 65536-wide layers made the
// loader allocate the parameters (~47 GB) before finding that the tensors were not there.
TEST(Checkpoint, MetadataCannotAskForMoreMemoryThanTheFileHolds) {
  vae_test::TempDir dir;
  const std::string path = dir.file("c.safetensors");
  vae::save_checkpoint(path, small_checkpoint());
  vae::SafeTensors st = vae::read_safetensors(path);
  auto m = nlohmann::json::parse(st.metadata.at("model"));
  m["input_dim"] = 65536;
  m["height"] = 256;
  m["width"] = 256;
  m["hidden"] = std::vector<int>(8, 65536);  // 8 x 2^32 weights: 137 GB of floats
  m["latent"] = 16384;
  st.metadata["model"] = m.dump();
  vae::write_safetensors(path, st);
  ASSERT_LT(vae_test::read_bytes(path).size(), 10000u);
  expect_error_naming(path, "encoder.0.weight");  // missing or wrong shape, before any allocation
}

}  // namespace
