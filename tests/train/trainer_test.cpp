// The training loop on a small in-memory data set: the loss goes down, metrics and checkpoints
// are written, and a resumed run equals an uninterrupted one bit for bit.
#include "vae/trainer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "test_util.h"
#include "vae/error.h"

namespace {

// 4×4 images of four patterns (bars in each quadrant) with pixel noise.
vae::Dataset patterns(size_t n, uint64_t seed) {
  vae::Dataset d;
  d.n = n;
  d.d = 16;
  d.height = d.width = 4;
  d.channels = 1;
  d.x.resize(n * 16);
  d.labels.resize(n);
  vae::Rng rng(seed);
  for (size_t i = 0; i < n; ++i) {
    const int k = static_cast<int>(rng.below(4));
    d.labels[i] = k;
    for (int p = 0; p < 16; ++p) {
      const int r = p / 4, c = p % 4;
      const bool on = (r / 2 == k / 2) && (c / 2 == k % 2);
      d.x[i * 16 + p] = std::min(1.0f, std::max(0.0f, (on ? 0.9f : 0.1f) + 0.1f * (rng.uniform_float() - 0.5f)));
    }
  }
  return d;
}

vae::DataSplits small_data() {
  vae::DataSplits s;
  s.train = patterns(300, 1);
  s.test = patterns(60, 2);
  s.source = "patterns";
  return s;
}

vae::ModelConfig small_model() {
  vae::ModelConfig c;
  c.input_dim = 16;
  c.hidden = {12};
  c.latent = 2;
  c.height = c.width = 4;
  c.channels = 1;
  return c;
}

vae::TrainOptions options(int epochs, const std::string& binarize = "none") {
  vae::TrainOptions o;
  o.epochs = epochs;
  o.batch_size = 32;  // 300 = 9·32 + 12: the last batch of each epoch is short
  o.lr = 3e-3;
  o.seed = 5;
  o.binarize = binarize;
  return o;
}

std::vector<std::string> lines(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(f, l);) out.push_back(l);
  return out;
}

TEST(Trainer, LossFallsAndFilesAreWritten) {
  vae_test::TempDir dir;
  std::vector<vae::EpochMetrics> seen;
  vae::TrainCallbacks cb;
  size_t batches = 0;
  cb.on_batch = [&](const vae::TrainProgress& p) {
    ++batches;
    EXPECT_EQ(p.batches, 10u);
  };
  cb.on_epoch = [&](const vae::EpochMetrics& m) { seen.push_back(m); };
  vae::train(dir.path(), small_model(), options(8), small_data(), {}, nullptr, cb);
  ASSERT_EQ(seen.size(), 8u);
  EXPECT_EQ(batches, 80u);
  EXPECT_LT(seen.back().test_loss, seen.front().test_loss - 0.5);
  EXPECT_NEAR(seen.back().test_loss, seen.back().test_recon + seen.back().test_kl, 1e-9);
  EXPECT_EQ(lines(dir.file("metrics.jsonl")).size(), 8u);
  const vae::Checkpoint last = vae::load_checkpoint(dir.file("last.safetensors"));
  EXPECT_EQ(last.state.epoch, 8);
  EXPECT_EQ(last.state.step, 80);
  EXPECT_EQ(last.adam_step, 80);
  const vae::Checkpoint best = vae::load_checkpoint(dir.file("best.safetensors"));
  EXPECT_EQ(best.state.epoch, best.state.best_epoch);
  EXPECT_LE(best.state.best_test_loss, seen.back().test_loss + 1e-3);
}

class Resume : public ::testing::TestWithParam<const char*> {};

TEST_P(Resume, ResumedRunEqualsUninterruptedBitForBit) {
  const std::string binarize = GetParam();
  const vae::DataSplits data = small_data();
  vae_test::TempDir full, part;
  vae::train(full.path(), small_model(), options(5, binarize), data, {}, nullptr, {});
  vae::train(part.path(), small_model(), options(2, binarize), data, {}, nullptr, {});
  const vae::Checkpoint mid = vae::load_checkpoint(part.file("last.safetensors"));
  vae::TrainOptions more = mid.train;
  more.epochs = 5;
  vae::train(part.path(), mid.model, more, data, mid.scaler, &mid, {});

  const vae::Checkpoint a = vae::load_checkpoint(full.file("last.safetensors"));
  const vae::Checkpoint b = vae::load_checkpoint(part.file("last.safetensors"));
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.adam_m, b.adam_m);
  EXPECT_EQ(a.adam_v, b.adam_v);
  EXPECT_EQ(a.state.rng, b.state.rng);
  EXPECT_EQ(a.state.step, b.state.step);
  EXPECT_EQ(lines(full.file("metrics.jsonl")).size(), 5u);
  const auto resumed_lines = lines(part.file("metrics.jsonl"));
  ASSERT_EQ(resumed_lines.size(), 5u);
  for (int e = 0; e < 5; ++e)
    EXPECT_NE(resumed_lines[e].find("\"epoch\":" + std::to_string(e + 1)), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Binarize, Resume, ::testing::Values("none", "dynamic"));

TEST(Trainer, DataThatDoesNotFitTheModelIsAnError) {
  vae_test::TempDir dir;
  vae::ModelConfig wrong = small_model();
  wrong.input_dim = 9;
  wrong.height = 3;
  wrong.width = 3;
  EXPECT_THROW(vae::train(dir.path(), wrong, options(1), small_data(), {}, nullptr, {}), vae::Error);
  EXPECT_FALSE(vae_test::exists(dir.file("last.safetensors")));
}

TEST(Trainer, DivergenceStopsWithAMessageAndKeepsTheLastGoodCheckpoint) {
  vae_test::TempDir dir;
  vae::train(dir.path(), small_model(), options(1), small_data(), {}, nullptr, {});
  const std::string before = vae_test::read_bytes(dir.file("last.safetensors"));
  vae::DataSplits bad = small_data();
  bad.train.x[5] = std::nanf("");
  try {
    vae::train(dir.path(), small_model(), options(2), bad, {}, nullptr, {});
    ADD_FAILURE() << "NaN data trained without complaint";
  } catch (const vae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not finite"), std::string::npos) << e.what();
  }
  EXPECT_EQ(vae_test::read_bytes(dir.file("last.safetensors")), before);
}

}  // namespace

namespace {

TEST(Trainer, ValidationChoosesTheBestModelStopsEarlyAndScoresTestOnce) {
  vae_test::TempDir dir;
  vae::DataSplits data = small_data();
  data.val = patterns(40, 3);
  vae::TrainOptions o = options(40);
  o.lr = 3e-2;  // large steps: the validation loss stops improving within a few epochs
  o.patience = 2;
  o.data.val_split = 0.1;
  std::vector<vae::EpochMetrics> seen;
  vae::FinalMetrics final_metrics;
  bool finished = false;
  vae::TrainCallbacks cb;
  cb.on_epoch = [&](const vae::EpochMetrics& m) { seen.push_back(m); };
  cb.on_final = [&](const vae::FinalMetrics& f) {
    final_metrics = f;
    finished = true;
  };
  vae::train(dir.path(), small_model(), o, data, {}, nullptr, cb);
  ASSERT_TRUE(finished);
  ASSERT_FALSE(seen.empty());
  for (const auto& m : seen) EXPECT_TRUE(m.on_val);
  EXPECT_TRUE(final_metrics.has_val);
  // The best epoch has the lowest validation loss of all epochs run.
  double lowest = 1e300;
  int64_t at = 0;
  for (const auto& m : seen)
    if (m.test_loss < lowest) {
      lowest = m.test_loss;
      at = m.epoch;
    }
  EXPECT_EQ(final_metrics.best_epoch, at);
  EXPECT_NEAR(final_metrics.val_loss, lowest, 1e-9);
  EXPECT_TRUE(final_metrics.stopped_early);
  EXPECT_LT(seen.size(), 40u);
  EXPECT_EQ(seen.back().epoch - at, 2);  // exactly `patience` epochs after the best
  const std::string metrics = vae_test::read_bytes(dir.file("metrics.jsonl"));
  EXPECT_NE(metrics.find("\"val_loss\""), std::string::npos);
  EXPECT_EQ(metrics.find("\"test_loss\""), std::string::npos);  // test untouched per epoch
  const std::string final_json = vae_test::read_bytes(dir.file("final.json"));
  EXPECT_NE(final_json.find("\"selected_on\": \"val\""), std::string::npos) << final_json;
}

TEST(Trainer, PatienceNeedsAValidationSplit) {
  vae::TrainOptions o = options(3);
  o.patience = 2;
  EXPECT_THROW(o.validate(), vae::Error);
  o.data.val_split = 0.2;
  EXPECT_NO_THROW(o.validate());
}

}  // namespace

namespace {

TEST(KlSchedule, GoldenValues) {
  vae::TrainOptions o;
  o.beta = 2.0;
  EXPECT_EQ(o.kl_weight(0.0), 2.0);
  o.kl_warmup = "linear:4";
  EXPECT_EQ(o.kl_weight(0.0), 0.0);
  EXPECT_EQ(o.kl_weight(1.0), 0.5);
  EXPECT_EQ(o.kl_weight(4.0), 2.0);
  EXPECT_EQ(o.kl_weight(9.0), 2.0);
  o.kl_warmup = "cyclical:4";
  EXPECT_EQ(o.kl_weight(0.0), 0.0);
  EXPECT_EQ(o.kl_weight(1.0), 1.0);  // u = 1/4 → 2u = 1/2 of β
  EXPECT_EQ(o.kl_weight(2.0), 2.0);  // ramp done at half the period
  EXPECT_EQ(o.kl_weight(3.5), 2.0);
  EXPECT_EQ(o.kl_weight(4.0), 0.0);  // next cycle
  for (const char* bad : {"linear", "linear:0", "linear:x", "cosine:3", "cyclical:-2", "linear:3e"}) {
    o.kl_warmup = bad;
    EXPECT_THROW(o.validate(), vae::Error) << bad;
  }
}

TEST(Trainer, ReportedLossIsTheTrueElboWhateverTheObjective) {
  vae_test::TempDir dir;
  vae::TrainOptions o = options(2);
  o.beta = 0.5;
  o.free_bits = 0.2;
  std::vector<vae::EpochMetrics> seen;
  vae::TrainCallbacks cb;
  cb.on_epoch = [&](const vae::EpochMetrics& m) { seen.push_back(m); };
  vae::train(dir.path(), small_model(), o, small_data(), {}, nullptr, cb);
  ASSERT_EQ(seen.size(), 2u);
  for (const auto& m : seen) {
    EXPECT_NEAR(m.train_loss, m.train_recon + m.train_kl, 1e-9);
    EXPECT_NE(m.train_objective, m.train_loss);
    EXPECT_EQ(m.kl_weight, 0.5);
  }
  const vae::Checkpoint c = vae::load_checkpoint(dir.file("last.safetensors"));
  EXPECT_EQ(c.train.beta, 0.5);
  EXPECT_EQ(c.train.free_bits, 0.2);
}

}  // namespace
