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
  vae::train(dir.path(), small_model(), options(8), small_data(), nullptr, cb);
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
  vae::train(full.path(), small_model(), options(5, binarize), data, nullptr, {});
  vae::train(part.path(), small_model(), options(2, binarize), data, nullptr, {});
  const vae::Checkpoint mid = vae::load_checkpoint(part.file("last.safetensors"));
  vae::TrainOptions more = mid.train;
  more.epochs = 5;
  vae::train(part.path(), mid.model, more, data, &mid, {});

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
  EXPECT_THROW(vae::train(dir.path(), wrong, options(1), small_data(), nullptr, {}), vae::Error);
  EXPECT_FALSE(vae_test::exists(dir.file("last.safetensors")));
}

TEST(Trainer, DivergenceStopsWithAMessageAndKeepsTheLastGoodCheckpoint) {
  vae_test::TempDir dir;
  vae::train(dir.path(), small_model(), options(1), small_data(), nullptr, {});
  const std::string before = vae_test::read_bytes(dir.file("last.safetensors"));
  vae::DataSplits bad = small_data();
  bad.train.x[5] = std::nanf("");
  try {
    vae::train(dir.path(), small_model(), options(2), bad, nullptr, {});
    ADD_FAILURE() << "NaN data trained without complaint";
  } catch (const vae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not finite"), std::string::npos) << e.what();
  }
  EXPECT_EQ(vae_test::read_bytes(dir.file("last.safetensors")), before);
}

}  // namespace
