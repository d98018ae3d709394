// Training options: the enums' names, the KL schedule, validation naming fields, and the JSON
// form (the strings checkpoints have always held).
#include "vae/train_options.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "vae/error.h"

namespace {

TEST(KlSchedule, GoldenValues) {
  vae::TrainOptions o;
  o.beta = 2.0;
  EXPECT_EQ(o.kl_weight(0.0), 2.0);
  o.kl_warmup = vae::parse_kl_warmup("linear:4");
  EXPECT_EQ(o.kl_weight(0.0), 0.0);
  EXPECT_EQ(o.kl_weight(1.0), 0.5);
  EXPECT_EQ(o.kl_weight(4.0), 2.0);
  EXPECT_EQ(o.kl_weight(9.0), 2.0);
  o.kl_warmup = vae::parse_kl_warmup("cyclical:4");
  EXPECT_EQ(o.kl_weight(0.0), 0.0);
  EXPECT_EQ(o.kl_weight(1.0), 1.0);  // u = 1/4 → 2u = 1/2 of β
  EXPECT_EQ(o.kl_weight(2.0), 2.0);  // ramp done at half the period
  EXPECT_EQ(o.kl_weight(3.5), 2.0);
  EXPECT_EQ(o.kl_weight(4.0), 0.0);  // next cycle
}

TEST(KlSchedule, ParsedOnceNamedTheSameWay) {
  const vae::KlWarmup w = vae::parse_kl_warmup("cyclical:2.5");
  EXPECT_EQ(w.kind, vae::KlWarmup::Kind::Cyclical);
  EXPECT_EQ(w.period, 2.5);
  for (const char* name : {"none", "linear:4", "cyclical:2.5", "linear:0.1"})
    EXPECT_EQ(vae::kl_warmup_name(vae::parse_kl_warmup(name)), name);
  EXPECT_EQ(vae::kl_warmup_name(vae::parse_kl_warmup("linear:5.0")), "linear:5");
  for (const char* bad : {"linear", "linear:0", "linear:x", "cosine:3", "cyclical:-2", "linear:3e",
                          "none:3", "linear:inf", ""}) {
    try {
      vae::parse_kl_warmup(bad);
      ADD_FAILURE() << "parsed '" << bad << "'";
    } catch (const vae::FieldError& e) {
      EXPECT_EQ(e.field(), "kl_warmup");
      EXPECT_NE(e.problem().find(std::string("got '") + bad + "'"), std::string::npos) << e.what();
    }
  }
}

TEST(TrainOptions, EnumNamesRoundTrip) {
  for (const char* name : {"none", "dynamic"})
    EXPECT_STREQ(vae::binarize_name(vae::parse_binarize(name)), name);
  for (const char* name : {"elbo", "iwae"})
    EXPECT_STREQ(vae::objective_name(vae::parse_objective(name)), name);
  try {
    vae::parse_binarize("maybe");
    ADD_FAILURE() << "parsed 'maybe'";
  } catch (const vae::FieldError& e) {
    EXPECT_EQ(std::string(e.what()), "binarize: must be 'none' or 'dynamic', got 'maybe'");
  }
  EXPECT_THROW(vae::parse_objective("wake-sleep"), vae::FieldError);
}

// A problem that names another field shows it bare in what() and problem(), and as its caller
// spells it through problem_naming (the command gives each its flag).
TEST(TrainOptions, AFieldErrorNamesOtherFieldsForTheCallerToSpell) {
  vae::TrainOptions o;
  o.patience = 3;
  o.data.val_split = 0;
  try {
    o.validate();
    ADD_FAILURE() << "patience without a validation split passed";
  } catch (const vae::FieldError& e) {
    const std::string problem =
        "early stopping watches the validation loss; it needs a validation split ";
    EXPECT_EQ(std::string(e.what()), "patience: " + problem + "(val_split)");
    EXPECT_EQ(e.problem(), problem + "(val_split)");
    EXPECT_EQ(e.problem_naming([](const std::string& f) { return "<" + f + ">"; }),
              problem + "(<val_split>)");
  }
  const vae::FieldError plain("latent", "a { without its close");
  EXPECT_EQ(std::string(plain.what()), "latent: a { without its close");
  const vae::FieldError json("encoder[0]", "must be an object such as {\"type\": \"dense\"}, {}");
  EXPECT_EQ(json.problem(), "must be an object such as {\"type\": \"dense\"}, {}");
}

// The field validate() names for one change to the defaults, or "" when it passes.
std::string field_refused(const std::function<void(vae::TrainOptions&)>& change) {
  vae::TrainOptions o;
  change(o);
  try {
    o.validate();
  } catch (const vae::FieldError& e) {
    EXPECT_EQ(e.problem().find("--"), std::string::npos) << "names a flag: " << e.what();
    return e.field();
  }
  return "";
}

TEST(TrainOptions, ValidateNamesTheField) {
  using O = vae::TrainOptions;
  EXPECT_EQ(field_refused([](O&) {}), "");
  EXPECT_EQ(field_refused([](O& o) { o.epochs = -1; }), "epochs");
  EXPECT_EQ(field_refused([](O& o) { o.batch_size = 0; }), "batch_size");
  EXPECT_EQ(field_refused([](O& o) { o.lr = -1; }), "lr");
  EXPECT_EQ(field_refused([](O& o) { o.patience = -1; }), "patience");
  EXPECT_EQ(field_refused([](O& o) {
              o.patience = 2;
              o.data.val_split = 0;
            }),
            "patience");  // needs validation rows
  EXPECT_EQ(field_refused([](O& o) { o.beta = -1; }), "beta");
  EXPECT_EQ(field_refused([](O& o) { o.free_bits = -1; }), "free_bits");
  EXPECT_EQ(field_refused([](O& o) { o.kl_warmup.kind = vae::KlWarmup::Kind::Linear; }),
            "kl_warmup");  // period 0
  EXPECT_EQ(field_refused([](O& o) { o.k = 0; }), "k");
  EXPECT_EQ(field_refused([](O& o) { o.k = 4; }), "k");  // needs iwae
  EXPECT_EQ(field_refused([](O& o) {
              o.objective = vae::Objective::Iwae;
              o.beta = 2;
            }),
            "objective");
  EXPECT_EQ(field_refused([](O& o) { o.clip_grad = -1; }), "clip_grad");
  EXPECT_EQ(field_refused([](O& o) { o.max_recoveries = -1; }), "max_recoveries");
  EXPECT_EQ(field_refused([](O& o) { o.data.val_split = 2; }), "val_split");
  try {
    vae::TrainOptions o;
    o.batch_size = 0;
    o.validate();
  } catch (const vae::FieldError& e) {
    EXPECT_EQ(std::string(e.what()), "batch_size: must be in 1..65536, got 0");
  }
}

// What today's checkpoints hold for a default run of 2 epochs (fuzz/corpus/config_json).
constexpr const char* kDefaultJson =
    R"({"batch_size":128,"beta":1.0,"binarize":"none","clip_grad":0.0,"data":"fashion-mnist",)"
    R"("delimiter":"auto","epochs":2,"free_bits":0.0,"header":"auto","k":1,"kl_warmup":"none","label_column":"","limit":0,)"
    R"("lr":0.001,"lr_schedule":"none","max_recoveries":5,"objective":"elbo","optimizer":"adam",)"
    R"("patience":0,"save_every":0,"scale":"auto","seed":1,"test_data":"","test_split":-1.0,)"
    R"("val_split":-1.0,"weight_decay":0.0})";

TEST(TrainOptionsJson, WritesTheStringsCheckpointsHold) {
  vae::TrainOptions o;
  o.epochs = 2;
  EXPECT_EQ(o.to_json(), kDefaultJson);
  o.data.data = "table.csv";
  o.data.label_column = "label";
  o.data.scale = vae::Scale::Standardize;
  o.kl_warmup = vae::parse_kl_warmup("linear:3");
  EXPECT_EQ(o.to_json(),
            R"({"batch_size":128,"beta":1.0,"binarize":"none","clip_grad":0.0,"data":"table.csv",)"
            R"("delimiter":"auto","epochs":2,"free_bits":0.0,"header":"auto","k":1,"kl_warmup":"linear:3","label_column":"label",)"
            R"("limit":0,"lr":0.001,"lr_schedule":"none","max_recoveries":5,"objective":"elbo",)"
            R"("optimizer":"adam","patience":0,"save_every":0,"scale":"standardize","seed":1,)"
            R"("test_data":"","test_split":-1.0,"val_split":-1.0,"weight_decay":0.0})");
}

// init_from is written only when a run started from a checkpoint, and reads back.
TEST(TrainOptionsJson, InitFromOnlyWhenSet) {
  vae::TrainOptions o;
  o.epochs = 2;
  o.init_from = "/runs/imported.safetensors";
  const std::string text = o.to_json();
  EXPECT_NE(text.find(R"("init_from":"/runs/imported.safetensors")"), std::string::npos) << text;
  EXPECT_EQ(vae::TrainOptions::from_json(text, "x").init_from, o.init_from);
  EXPECT_EQ(vae::TrainOptions::from_json(kDefaultJson, "x").init_from, "");
}

// A checkpoint written before the default validation split has no val_split key: it selected
// its model on the test set, and reads so.
TEST(TrainOptionsJson, AFileWithoutValSplitHadNoValidationRows) {
  std::string old_json = kDefaultJson;
  old_json.replace(old_json.find(R"(,"val_split":-1.0)"), 17, "");
  EXPECT_EQ(vae::TrainOptions::from_json(old_json, "old").data.val_split, 0.0);
  EXPECT_EQ(vae::TrainOptions::from_json(kDefaultJson, "new").data.val_split, -1.0);
}

TEST(TrainOptionsJson, RoundTripsEveryField) {
  vae::TrainOptions o;
  o.data.data = "d.csv";
  o.data.test_data = "t.csv";
  o.data.val_split = 0.25;
  o.data.label_column = "y";
  o.data.scale = vae::Scale::None;
  o.epochs = 7;
  o.batch_size = 33;
  o.lr = 3e-4;
  o.seed = 18446744073709551615ull;
  o.binarize = vae::Binarize::Dynamic;
  o.patience = 2;
  o.objective = vae::Objective::Iwae;
  o.k = 5;
  o.clip_grad = 2.5;
  o.max_recoveries = 0;
  const vae::TrainOptions r = vae::TrainOptions::from_json(o.to_json(), "x");
  EXPECT_EQ(r.to_json(), o.to_json());
  EXPECT_EQ(r.seed, o.seed);
  EXPECT_EQ(r.binarize, vae::Binarize::Dynamic);
  EXPECT_EQ(r.objective, vae::Objective::Iwae);
  EXPECT_EQ(r.data.scale, vae::Scale::None);
}

TEST(TrainOptionsJson, KeysAddedLaterReadAsTheBehaviourBeforeThem) {
  const vae::TrainOptions o = vae::TrainOptions::from_json(
      R"({"data":"fashion-mnist","epochs":3,"batch_size":64,"lr":0.01,"seed":4,"binarize":"dynamic"})",
      "old.safetensors");
  EXPECT_EQ(o.epochs, 3);
  EXPECT_EQ(o.binarize, vae::Binarize::Dynamic);
  EXPECT_EQ(o.max_recoveries, 0);  // stopped at the first non-finite step
  EXPECT_EQ(o.kl_warmup.kind, vae::KlWarmup::Kind::None);
  EXPECT_EQ(o.objective, vae::Objective::Elbo);
  EXPECT_EQ(o.data.scale, vae::Scale::Auto);
  EXPECT_EQ(o.data.test_split, -1.0);
}

TEST(TrainOptionsJson, BadFilesNameTheOriginAndTheKey) {
  auto error_of = [](const std::string& text) -> std::string {
    try {
      vae::TrainOptions::from_json(text, "c.safetensors");
    } catch (const vae::FieldError&) {
      ADD_FAILURE() << "a bad file is not a bad option: " << text;
    } catch (const vae::Error& e) {
      return e.what();
    }
    return "";
  };
  std::string text = kDefaultJson;
  text.replace(text.find("\"binarize\":\"none\""), 17, "\"binarize\":\"often\"");
  EXPECT_EQ(error_of(text).rfind("c.safetensors: train_options: binarize: must be", 0), 0u)
      << error_of(text);
  text = kDefaultJson;
  text.replace(text.find("\"batch_size\":128"), 16, "\"batch_size\":0");
  EXPECT_EQ(error_of(text), "c.safetensors: train_options: batch_size: must be in 1..65536, got 0");
  text = kDefaultJson;
  text.replace(text.find("\"epochs\":2"), 10, "\"epochs\":2.5");
  EXPECT_NE(error_of(text).find("epochs: must be an integer"), std::string::npos);
  EXPECT_NE(error_of(R"({"epochs":2})").find("malformed train_options"), std::string::npos);
}

}  // namespace

namespace {

TEST(LrSchedule, GoldenValues) {
  using vae::parse_lr_schedule;
  EXPECT_EQ(parse_lr_schedule("none").rate(0.1, 7, 10, 3), 0.1);
  const vae::LrSchedule step = parse_lr_schedule("step:2:0.5");
  EXPECT_EQ(step.rate(0.1, 0, 10, 0), 0.1);  // epoch 1
  EXPECT_EQ(step.rate(0.1, 1, 10, 0), 0.1);  // epoch 2
  EXPECT_EQ(step.rate(0.1, 2, 10, 0), 0.05);
  EXPECT_EQ(step.rate(0.1, 5, 10, 0), 0.025);
  const vae::LrSchedule cosine = parse_lr_schedule("cosine");
  EXPECT_DOUBLE_EQ(cosine.rate(0.1, 0, 4, 0), 0.1);
  EXPECT_DOUBLE_EQ(cosine.rate(0.1, 1, 4, 0), 0.05 * (1 + std::sqrt(0.5)));
  EXPECT_DOUBLE_EQ(cosine.rate(0.1, 2, 4, 0), 0.05);
  EXPECT_NEAR(cosine.rate(0.1, 4, 4, 0), 0.0, 1e-18);
  const vae::LrSchedule plateau = parse_lr_schedule("plateau:3:0.1");
  EXPECT_EQ(plateau.every, 3);
  EXPECT_DOUBLE_EQ(plateau.rate(1.0, 9, 10, 0), 1.0);
  EXPECT_DOUBLE_EQ(plateau.rate(1.0, 9, 10, 2), 0.01);
}

TEST(LrSchedule, ParsedOnceNamedTheSameWay) {
  for (const char* name : {"none", "cosine", "step:10:0.5", "plateau:3:0.1", "step:1:1"})
    EXPECT_EQ(vae::lr_schedule_name(vae::parse_lr_schedule(name)), name);
  for (const char* bad : {"", "step", "step:2", "step:0:0.5", "step:2:0", "step:2:1.5", "step:x:0.5",
                          "step:2.5:0.5", "plateau:3:0.1x", "cosine:3", "linear:2:0.5", "step:-1:0.5"}) {
    try {
      vae::parse_lr_schedule(bad);
      ADD_FAILURE() << "parsed '" << bad << "'";
    } catch (const vae::FieldError& e) {
      EXPECT_EQ(e.field(), "lr_schedule");
      EXPECT_NE(e.problem().find(std::string("got '") + bad + "'"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(field_refused([](vae::TrainOptions& o) { o.weight_decay = -1; }), "weight_decay");
  EXPECT_EQ(field_refused([](vae::TrainOptions& o) { o.save_every = -1; }), "save_every");
  EXPECT_EQ(field_refused([](vae::TrainOptions& o) {
              o.lr_schedule.kind = vae::LrSchedule::Kind::Step;
            }),
            "lr_schedule");
  vae::TrainOptions o;
  o.lr_schedule = vae::parse_lr_schedule("plateau:2:0.25");
  o.weight_decay = 0.05;
  o.save_every = 3;
  o.data.limit = 100;
  const vae::TrainOptions r = vae::TrainOptions::from_json(o.to_json(), "x");
  EXPECT_EQ(r.to_json(), o.to_json());
  EXPECT_EQ(r.lr_schedule.factor, 0.25);
  EXPECT_EQ(r.weight_decay, 0.05);
  EXPECT_EQ(r.save_every, 3);
  EXPECT_EQ(r.data.limit, 100);
}

}  // namespace
