// From --data specs to scaled splits: source detection, deterministic splits, each scaling rule
// and its inverse, and the range check of the Bernoulli likelihood.
#include "vae/data_pipeline.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "test_util.h"
#include "vae/error.h"

namespace {

// A CSV of 50 rows: x0 = i, x1 = 10 + 2i, x2 = 7 (constant), label = i % 3.
std::string write_table(const vae_test::TempDir& dir) {
  std::string csv = "a,b,c,label\n";
  for (int i = 0; i < 50; ++i)
    csv += std::to_string(i) + "," + std::to_string(10 + 2 * i) + ",7," + std::to_string(i % 3) + "\n";
  const std::string path = dir.file("table.csv");
  vae_test::write_bytes(path, csv);
  return path;
}

vae::DataOptions table_options(const std::string& path) {
  vae::DataOptions o;
  o.data = path;
  o.label_column = "label";
  return o;
}

TEST(DataPipeline, TablesSplitDeterministicallyWithDefaultTestFraction) {
  vae_test::TempDir dir;
  vae::DataOptions o = table_options(write_table(dir));
  o.val_split = 0.2;
  const vae::DataSplits a = vae::load_splits(o, 7, vae::Likelihood::Bernoulli, nullptr, nullptr);
  EXPECT_EQ(a.test.n, 5u);   // default --test-split 0.1
  EXPECT_EQ(a.val.n, 9u);    // 0.2 of the remaining 45
  EXPECT_EQ(a.train.n, 36u);
  EXPECT_EQ(a.train.d, 3u);
  EXPECT_EQ(a.train.labels.size(), 36u);
  const vae::DataSplits b = vae::load_splits(o, 7, vae::Likelihood::Bernoulli, nullptr, nullptr);
  EXPECT_EQ(a.test.x, b.test.x);
  EXPECT_EQ(a.val.x, b.val.x);
  const vae::DataSplits c = vae::load_splits(o, 8, vae::Likelihood::Bernoulli, nullptr, nullptr);
  EXPECT_NE(a.test.x, c.test.x);  // another seed, other rows
}

TEST(DataPipeline, MinMaxScalingIsFittedOnTrainingRowsAndInverts) {
  vae_test::TempDir dir;
  vae::DataOptions o = table_options(write_table(dir));
  o.scale = vae::Scale::ZeroOne;
  vae::Scaler s;
  const vae::DataSplits d = vae::load_splits(o, 1, vae::Likelihood::Bernoulli, nullptr, &s);
  EXPECT_EQ(s.kind, vae::ScalerKind::ZeroOne);
  ASSERT_EQ(s.offset.size(), 3u);
  float lo = 1e9f, hi = -1e9f;
  for (size_t i = 0; i < d.train.n; ++i) {
    lo = std::min(lo, d.train.row(i)[0]);
    hi = std::max(hi, d.train.row(i)[0]);
    EXPECT_EQ(d.train.row(i)[2], 0.0f);  // constant column: offset 7, factor 1
  }
  EXPECT_EQ(lo, 0.0f);
  EXPECT_EQ(hi, 1.0f);
  for (size_t i = 0; i < d.test.n; ++i)
    for (size_t j = 0; j < 3; ++j) {
      EXPECT_GE(d.test.row(i)[j], 0.0f);
      EXPECT_LE(d.test.row(i)[j], 1.0f);
    }
  // Inverse of the (unclamped) map gives the raw values back: x1 = 10 + 2·x0.
  std::vector<float> row(d.train.row(0), d.train.row(0) + 3);
  s.invert(row.data(), 1);
  EXPECT_NEAR(row[1], 10 + 2 * row[0], 1e-4);
  EXPECT_NEAR(row[2], 7.0f, 1e-6);
}

TEST(DataPipeline, StandardizeGivesZeroMeanUnitVariance) {
  vae_test::TempDir dir;
  vae::DataOptions o = table_options(write_table(dir));
  o.scale = vae::Scale::Auto;  // tables + gaussian → standardize
  vae::Scaler s;
  const vae::DataSplits d = vae::load_splits(o, 1, vae::Likelihood::Gaussian, nullptr, &s);
  EXPECT_EQ(s.kind, vae::ScalerKind::Standardize);
  for (size_t j = 0; j < 2; ++j) {
    double m = 0, v = 0;
    for (size_t i = 0; i < d.train.n; ++i) m += d.train.row(i)[j];
    m /= d.train.n;
    for (size_t i = 0; i < d.train.n; ++i) v += (d.train.row(i)[j] - m) * (d.train.row(i)[j] - m);
    v /= d.train.n - 1;
    EXPECT_NEAR(m, 0.0, 1e-5);
    EXPECT_NEAR(v, 1.0, 1e-4);
  }
}

TEST(DataPipeline, SavedScalerIsReappliedNotRefitted) {
  vae_test::TempDir dir;
  vae::DataOptions o = table_options(write_table(dir));
  vae::Scaler fitted;
  fitted.kind = vae::ScalerKind::Standardize;
  fitted.offset = {1, 2, 3};
  fitted.factor = {0.5f, 0.25f, 1};
  const vae::DataSplits d = vae::load_splits(o, 1, vae::Likelihood::Gaussian, &fitted, nullptr);
  const vae::Dataset raw = vae::read_source(o.data, o, "train");
  // Row membership differs from the raw file, so check the transform through a known value:
  // column 2 is 7 everywhere → (7 − 3)·1 = 4.
  for (size_t i = 0; i < d.train.n; ++i) EXPECT_EQ(d.train.row(i)[2], 4.0f);
  EXPECT_EQ(raw.n, 50u);
}

TEST(DataPipeline, BernoulliRangeCheckNamesTheRow) {
  vae_test::TempDir dir;
  vae::DataOptions o = table_options(write_table(dir));
  o.scale = vae::Scale::None;
  const vae::DataSplits d = vae::load_splits(o, 1, vae::Likelihood::Bernoulli, nullptr, nullptr);
  try {
    vae::check_range_for(d.train, vae::Likelihood::Bernoulli, "table.csv");
    FAIL() << "raw values up to 108 passed as Bernoulli data";
  } catch (const vae::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("table.csv: row"), std::string::npos) << m;
    EXPECT_NE(m.find("choose a gaussian likelihood"), std::string::npos) << m;
  }
  EXPECT_NO_THROW(vae::check_range_for(d.train, vae::Likelihood::Gaussian, "table.csv"));
}

TEST(DataPipeline, BadSpecsAndOptionsAreNamed) {
  vae_test::TempDir dir;
  vae::DataOptions o;
  o.data = dir.file("nothing.csv");
  EXPECT_THROW(vae::load_splits(o, 1, vae::Likelihood::Bernoulli, nullptr, nullptr), vae::Error);
  o.data = dir.file("file.weird");
  vae_test::write_bytes(o.data, "x");
  try {
    vae::load_splits(o, 1, vae::Likelihood::Bernoulli, nullptr, nullptr);
    FAIL();
  } catch (const vae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot tell the format"), std::string::npos);
  }
  o = vae::DataOptions{};
  o.val_split = 1.5;
  EXPECT_THROW(o.validate(), vae::Error);
  EXPECT_THROW(vae::parse_scale("log"), vae::FieldError);
  o = vae::DataOptions{};
  o.test_data = "t.csv";
  o.test_split = 0.2;
  EXPECT_THROW(o.validate(), vae::Error);
}

// Options name their fields, never a flag; data problems name the file.
TEST(DataPipeline, OptionErrorsNameTheField) {
  auto field_of = [](const vae::DataOptions& o) -> std::string {
    try {
      o.validate();
    } catch (const vae::FieldError& e) {
      EXPECT_EQ(std::string(e.what()), e.field() + ": " + e.problem());
      EXPECT_EQ(e.problem().find("--"), std::string::npos) << e.what();
      return e.field();
    }
    return "";
  };
  vae::DataOptions o;
  EXPECT_EQ(field_of(o), "");
  o.data = "";
  EXPECT_EQ(field_of(o), "data");
  o = vae::DataOptions{};
  o.test_split = 1;
  EXPECT_EQ(field_of(o), "test_split");
  o = vae::DataOptions{};
  o.val_split = -0.1;
  EXPECT_EQ(field_of(o), "val_split");
  o = vae::DataOptions{};
  o.test_data = "t.csv";
  o.test_split = 0.2;
  EXPECT_EQ(field_of(o), "test_split");
  try {
    vae::parse_scale("log");
    ADD_FAILURE() << "parsed 'log'";
  } catch (const vae::FieldError& e) {
    EXPECT_EQ(std::string(e.what()), "scale: must be 'auto', '01', 'standardize' or 'none', got 'log'");
  }
}

// The names are the strings checkpoints hold.
TEST(DataPipeline, ScaleNamesRoundTrip) {
  for (const char* name : {"auto", "01", "standardize", "none"})
    EXPECT_STREQ(vae::scale_name(vae::parse_scale(name)), name);
  for (const char* name : {"none", "01", "standardize"})
    EXPECT_STREQ(vae::scaler_kind_name(vae::parse_scaler_kind(name)), name);
  EXPECT_THROW(vae::parse_scaler_kind("auto"), vae::FieldError);
}

}  // namespace

namespace {

// A run needs rows in every split it uses: a fraction that keeps none is named before training.
TEST(DataPipeline, SplitsThatLeaveAPartEmptyAreRefusedForTraining) {
  vae_test::TempDir dir;
  vae::DataOptions o = table_options(write_table(dir));
  const auto field_of = [&](const vae::DataOptions& opts) -> std::string {
    const vae::DataSplits d = vae::load_splits(opts, 1, vae::Likelihood::Gaussian, nullptr, nullptr);
    try {
      vae::check_splits_for_training(d, opts);
    } catch (const vae::FieldError& e) {
      return e.field();
    }
    return "";
  };
  EXPECT_EQ(field_of(o), "");
  o.test_split = 0;
  EXPECT_EQ(field_of(o), "test_split");
  o.test_split = 0.5;
  o.val_split = 1e-6;
  EXPECT_EQ(field_of(o), "val_split");
  o.val_split = 0.5;
  EXPECT_EQ(field_of(o), "");
}

}  // namespace

namespace {

// --limit N keeps the first N examples of each source read, before the splits, in file order.
TEST(DataPipeline, LimitKeepsTheFirstExamplesOfEachSource) {
  vae_test::TempDir dir;
  vae::DataOptions o = table_options(write_table(dir));
  o.limit = 20;
  o.val_split = 0;  // every row not held out for testing stays a training row
  o.scale = vae::Scale::None;
  const vae::DataSplits d = vae::load_splits(o, 7, vae::Likelihood::Gaussian, nullptr, nullptr);
  EXPECT_EQ(d.train.n + d.test.n, 20u);
  EXPECT_EQ(d.test.n, 2u);  // 0.1 of the 20 rows read
  for (const vae::Dataset* part : {&d.train, &d.test})
    for (size_t i = 0; i < part->n; ++i) {
      EXPECT_LT(part->row(i)[0], 20.0f);  // x0 = the row's index in the file
      EXPECT_EQ(part->labels[i], static_cast<int32_t>(part->row(i)[0]) % 3);
    }
  // A separate test file is cut the same way; a limit beyond the file keeps it whole.
  o.test_data = write_table(dir);
  o.limit = 7;
  const vae::DataSplits t = vae::load_splits(o, 7, vae::Likelihood::Gaussian, nullptr, nullptr);
  EXPECT_EQ(t.train.n, 7u);
  EXPECT_EQ(t.test.n, 7u);
  o.limit = 1000;
  EXPECT_EQ(vae::load_splits(o, 7, vae::Likelihood::Gaussian, nullptr, nullptr).train.n, 50u);
  o.limit = -1;
  try {
    o.validate();
    ADD_FAILURE() << "limit -1 accepted";
  } catch (const vae::FieldError& e) {
    EXPECT_EQ(e.field(), "limit");
  }
}

}  // namespace

namespace {

// A CSV whose label column names classes: row i is (i, name of row i).
std::string write_named(const vae_test::TempDir& dir, const std::string& file,
                        const std::vector<std::string>& names) {
  std::string csv = "x,kind\n";
  for (size_t i = 0; i < names.size(); ++i) csv += std::to_string(i) + "," + names[i] + "\n";
  vae_test::write_bytes(dir.file(file), csv);
  return dir.file(file);
}

// Each source numbers its own names in sorted order, so a test file lacking a class numbers the
// rest differently: its labels are renumbered to the training data's names, by name.
TEST(DataPipeline, ASeparateTestSourceIsNumberedByTheTrainingDataClassNames) {
  vae_test::TempDir dir;
  vae::DataOptions o;
  o.data = write_named(dir, "train.csv", {"fox", "cat", "dog", "cat", "fox", "dog"});
  o.test_data = write_named(dir, "test.csv", {"fox", "dog", "fox"});
  o.label_column = "kind";
  o.val_split = 0;
  o.scale = vae::Scale::None;
  const vae::DataSplits d = vae::load_splits(o, 1, vae::Likelihood::Gaussian, nullptr, nullptr);
  const std::vector<std::string> classes = {"cat", "dog", "fox"};
  EXPECT_EQ(d.train.class_names, classes);
  EXPECT_EQ(d.test.class_names, classes);
  EXPECT_EQ(d.test.labels, (std::vector<int32_t>{2, 1, 2}));  // read alone: fox 1, dog 0

  o.test_data = write_named(dir, "other.csv", {"dog", "emu"});
  try {
    vae::load_splits(o, 1, vae::Likelihood::Gaussian, nullptr, nullptr);
    ADD_FAILURE() << "a class the training data lack was accepted";
  } catch (const vae::Error& e) {
    EXPECT_EQ(std::string(e.what()),
              o.test_data + ": class 'emu' is not one of the training data's classes (cat, dog, fox)");
  }
}

TEST(DataPipeline, RenumberClassesLeavesUnnamedDataAlone) {
  vae::Dataset d;
  d.labels = {0, 1, 1};
  vae::renumber_classes(d, {"a", "b"}, "x.csv");  // numbers: taken as the training data's
  EXPECT_EQ(d.labels, (std::vector<int32_t>{0, 1, 1}));
  d.class_names = {"b", "c"};
  vae::renumber_classes(d, {}, "x.csv");  // a model whose data named nothing
  EXPECT_EQ(d.labels, (std::vector<int32_t>{0, 1, 1}));
  vae::renumber_classes(d, {"c", "a", "b"}, "x.csv");
  EXPECT_EQ(d.labels, (std::vector<int32_t>{2, 0, 0}));
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"c", "a", "b"}));
}

}  // namespace
