// The training loop on a small in-memory data set: the loss goes down, metrics and checkpoints
// are written, a resumed run equals an uninterrupted one bit for bit, and a non-finite step is
// undone (last good state, half the rate) up to --max-recoveries times, then stops the run.
#include "vae/trainer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "test_util.h"
#include "vae/error.h"
#include "vae/runtime.h"

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
  o.binarize = vae::parse_binarize(binarize);
  o.data.val_split = 0;  // the splits made here have no validation rows
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

// Sets the thread count for a scope and restores it.
struct Threads {
  explicit Threads(int n) : saved(vae::num_threads()) { vae::set_num_threads(n); }
  ~Threads() { vae::set_num_threads(saved); }
  int saved;
};

// Batches of 64 on 2 threads run data-parallel (2 parts of 32; the short last batch of 44 in
// parts of 22): a resumed run still equals an uninterrupted one bit for bit, and the losses are
// those of the one-thread run up to rounding.
TEST(Trainer, DataParallelRunsResumeBitForBitAndMatchOneThread) {
  const vae::DataSplits data = small_data();
  vae::TrainOptions o = options(4, "dynamic");
  o.batch_size = 64;
  std::vector<vae::EpochMetrics> one, two;
  vae::TrainCallbacks cb1, cb2;
  cb1.on_epoch = [&](const vae::EpochMetrics& m) { one.push_back(m); };
  cb2.on_epoch = [&](const vae::EpochMetrics& m) { two.push_back(m); };
  vae_test::TempDir serial, full, part;
  {
    Threads t(1);
    vae::train(serial.path(), small_model(), o, data, {}, nullptr, cb1);
  }
  Threads t(2);
  vae::train(full.path(), small_model(), o, data, {}, nullptr, cb2);
  ASSERT_EQ(one.size(), 4u);
  ASSERT_EQ(two.size(), 4u);
  for (size_t e = 0; e < 4; ++e) {
    EXPECT_NEAR(two[e].train_loss, one[e].train_loss, 1e-4 * one[e].train_loss) << e;
    EXPECT_NEAR(two[e].test_loss, one[e].test_loss, 1e-4 * one[e].test_loss) << e;
  }
  vae::TrainOptions first = o;
  first.epochs = 2;
  vae::train(part.path(), small_model(), first, data, {}, nullptr, {});
  const vae::Checkpoint mid = vae::load_checkpoint(part.file("last.safetensors"));
  vae::train(part.path(), mid.model, o, data, mid.scaler, &mid, {});
  const vae::Checkpoint a = vae::load_checkpoint(full.file("last.safetensors"));
  const vae::Checkpoint b = vae::load_checkpoint(part.file("last.safetensors"));
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.adam_m, b.adam_m);
  EXPECT_EQ(a.adam_v, b.adam_v);
  const vae::Checkpoint s1 = vae::load_checkpoint(serial.file("last.safetensors"));
  EXPECT_NE(s1.params, a.params);  // the split really happened: the sums ran in another order
}

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
  bad.train.x[5] = std::nanf("");  // every epoch meets it: each recovery meets it again
  for (int limit : {0, 2}) {
    SCOPED_TRACE(limit);
    vae::TrainOptions o = options(2);
    o.max_recoveries = limit;
    int recovered = 0;
    vae::TrainCallbacks cb;
    cb.on_recover = [&](const vae::TrainRecovery& r) {
      ++recovered;
      EXPECT_EQ(r.what, "reconstruction term");
      EXPECT_EQ(r.epoch, 1);
      EXPECT_EQ(r.restored_epoch, 0);
    };
    try {
      vae::train(dir.path(), small_model(), o, bad, {}, nullptr, cb);
      ADD_FAILURE() << "NaN data trained without complaint";
    } catch (const vae::Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      EXPECT_NE(msg.find("training diverged at epoch 1, step "), std::string::npos) << msg;
      EXPECT_NE(msg.find("reconstruction term is not finite"), std::string::npos) << msg;
      EXPECT_NE(msg.find("--max-recoveries " + std::to_string(limit)), std::string::npos) << msg;
      EXPECT_NE(msg.find("no epoch completed"), std::string::npos) << msg;
    }
    EXPECT_EQ(recovered, limit);
    EXPECT_EQ(vae_test::read_bytes(dir.file("last.safetensors")), before);
  }
}

// ---------------------------------------------------------------------------------------------
// Recovery from non-finite steps (vae/trainer.h): the after_backward hook poisons a gradient.

// 300 examples in batches of 32: 10 steps per epoch, so step 13 is the third of epoch 2.
constexpr int64_t kStepsPerEpoch = 10;

// A hook that puts NaN into the first gradient of `tensor` at the steps `poison` selects.
std::function<void(int64_t, float*, size_t)> poison_gradient(const std::string& tensor,
                                                             std::function<bool(int64_t)> poison) {
  size_t offset = SIZE_MAX;
  for (const vae::ParamInfo& p : vae::param_table(small_model()))
    if (p.name == tensor) offset = p.offset;
  EXPECT_NE(offset, SIZE_MAX) << tensor;
  return [=](int64_t step, float* grads, size_t n) {
    ASSERT_LT(offset, n);
    if (poison(step)) grads[offset] = std::nanf("");
  };
}

// True the first time it sees `at`, false ever after: a one-off fault.
std::function<bool(int64_t)> once_at(int64_t at) {
  auto done = std::make_shared<bool>(false);
  return [=](int64_t step) {
    if (step != at || *done) return false;
    *done = true;
    return true;
  };
}

TEST(Recovery, APoisonedGradientIsNamedUndoneAndTrainingGoesOnAtHalfTheRate) {
  vae_test::TempDir dir;
  std::vector<vae::TrainRecovery> seen;
  std::vector<vae::EpochMetrics> epochs;
  vae::TrainCallbacks cb;
  cb.after_backward = poison_gradient("decoder.out.weight", once_at(13));
  cb.on_recover = [&](const vae::TrainRecovery& r) { seen.push_back(r); };
  cb.on_epoch = [&](const vae::EpochMetrics& m) { epochs.push_back(m); };
  vae::train(dir.path(), small_model(), options(3), small_data(), {}, nullptr, cb);

  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].what, "gradient of decoder.out.weight");
  EXPECT_EQ(seen[0].epoch, 2);
  EXPECT_EQ(seen[0].step, 13);
  EXPECT_EQ(seen[0].restored_epoch, 1);
  EXPECT_EQ(seen[0].old_lr, 3e-3);
  EXPECT_EQ(seen[0].new_lr, 1.5e-3);
  EXPECT_EQ(seen[0].recovery, 1);
  EXPECT_EQ(seen[0].max_recoveries, 5);
  // Each epoch reported once, the redone one included; the loss stayed finite.
  ASSERT_EQ(epochs.size(), 3u);
  for (int e = 0; e < 3; ++e) {
    EXPECT_EQ(epochs[e].epoch, e + 1);
    EXPECT_TRUE(std::isfinite(epochs[e].train_loss));
    EXPECT_TRUE(std::isfinite(epochs[e].test_loss));
  }
  EXPECT_EQ(lines(dir.file("metrics.jsonl")).size(), 3u);
  const vae::Checkpoint last = vae::load_checkpoint(dir.file("last.safetensors"));
  EXPECT_EQ(last.state.epoch, 3);
  EXPECT_EQ(last.state.step, 3 * kStepsPerEpoch);  // the undone steps were not counted
  EXPECT_EQ(last.adam_step, 3 * kStepsPerEpoch);
  EXPECT_EQ(last.state.lr, 1.5e-3);
  EXPECT_EQ(last.state.recoveries, 1);
  EXPECT_EQ(last.train.lr, 3e-3);  // the options keep what was asked for

  // Without the fault the run is a different one: the recovery really lowered the rate.
  vae_test::TempDir clean;
  vae::train(clean.path(), small_model(), options(3), small_data(), {}, nullptr, {});
  const vae::Checkpoint c = vae::load_checkpoint(clean.file("last.safetensors"));
  EXPECT_NE(c.params, last.params);
  EXPECT_EQ(c.state.lr, 3e-3);
  EXPECT_EQ(c.state.recoveries, 0);
}

TEST(Recovery, AResumedRunKeepsTheLoweredRateAndEqualsTheUninterruptedOne) {
  const vae::DataSplits data = small_data();
  vae_test::TempDir full, part;
  vae::TrainCallbacks cb_full;
  cb_full.after_backward = poison_gradient("encoder.mu.bias", once_at(13));
  vae::train(full.path(), small_model(), options(4), data, {}, nullptr, cb_full);
  // The same fault, stopped after epoch 2 (the recovery is behind it), then resumed.
  vae::TrainCallbacks cb_part;
  cb_part.after_backward = poison_gradient("encoder.mu.bias", once_at(13));
  vae::train(part.path(), small_model(), options(2), data, {}, nullptr, cb_part);
  const vae::Checkpoint mid = vae::load_checkpoint(part.file("last.safetensors"));
  EXPECT_EQ(mid.state.lr, 1.5e-3);
  EXPECT_EQ(mid.state.recoveries, 1);
  vae::TrainOptions more = mid.train;
  more.epochs = 4;
  vae::train(part.path(), mid.model, more, data, mid.scaler, &mid, {});

  const vae::Checkpoint a = vae::load_checkpoint(full.file("last.safetensors"));
  const vae::Checkpoint b = vae::load_checkpoint(part.file("last.safetensors"));
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.adam_m, b.adam_m);
  EXPECT_EQ(a.adam_v, b.adam_v);
  EXPECT_EQ(a.state.rng, b.state.rng);
  EXPECT_EQ(a.state.lr, 1.5e-3);
  EXPECT_EQ(b.state.lr, 1.5e-3);
  EXPECT_EQ(b.state.recoveries, 1);
}

TEST(Recovery, PoisoningEveryStepStopsAfterTheLimitAndKeepsTheLastCheckpoint) {
  vae_test::TempDir dir;
  const vae::DataSplits data = small_data();
  vae::train(dir.path(), small_model(), options(1), data, {}, nullptr, {});
  const std::string before = vae_test::read_bytes(dir.file("last.safetensors"));
  const vae::Checkpoint first = vae::load_checkpoint(dir.file("last.safetensors"));
  vae::TrainOptions o = first.train;
  o.epochs = 3;
  o.max_recoveries = 3;
  std::vector<vae::TrainRecovery> seen;
  vae::TrainCallbacks cb;
  cb.after_backward = poison_gradient("decoder.out.bias", [](int64_t) { return true; });
  cb.on_recover = [&](const vae::TrainRecovery& r) { seen.push_back(r); };
  std::string msg;
  try {
    vae::train(dir.path(), first.model, o, data, first.scaler, &first, cb);
  } catch (const vae::Error& e) {
    msg = e.what();
  }
  ASSERT_EQ(seen.size(), 3u);
  double lr = 3e-3;
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].step, kStepsPerEpoch + 1);  // the first step of epoch 2, every time
    EXPECT_EQ(seen[i].restored_epoch, 1);
    EXPECT_EQ(seen[i].old_lr, lr);
    lr /= 2;
    EXPECT_EQ(seen[i].new_lr, lr);
    EXPECT_EQ(seen[i].recovery, static_cast<int64_t>(i + 1));
  }
  EXPECT_EQ(msg,
            "training diverged at epoch 2, step 11: gradient of decoder.out.bias is not finite "
            "again after 3 recoveries that lowered the lr to 0.000375 (--max-recoveries 3); "
            "last.safetensors holds epoch 1, the last good state (try a smaller --lr or "
            "--clip-grad)");
  EXPECT_EQ(vae_test::read_bytes(dir.file("last.safetensors")), before);
  EXPECT_NO_THROW(vae::load_checkpoint(dir.file("last.safetensors")));
  EXPECT_EQ(lines(dir.file("metrics.jsonl")).size(), 1u);
}

TEST(Recovery, RecoveriesCountOverTheRunAcrossResumes) {
  // A run that recovered once, resumed with a limit of 1, has no recovery left.
  const vae::DataSplits data = small_data();
  vae_test::TempDir dir;
  vae::TrainCallbacks cb;
  cb.after_backward = poison_gradient("decoder.out.weight", once_at(3));
  vae::train(dir.path(), small_model(), options(1), data, {}, nullptr, cb);
  vae::Checkpoint mid = vae::load_checkpoint(dir.file("last.safetensors"));
  ASSERT_EQ(mid.state.recoveries, 1);
  vae::TrainOptions o = mid.train;
  o.epochs = 2;
  o.max_recoveries = 1;
  cb.after_backward = poison_gradient("decoder.out.weight", once_at(15));
  int recovered = 0;
  cb.on_recover = [&](const vae::TrainRecovery&) { ++recovered; };
  EXPECT_THROW(vae::train(dir.path(), mid.model, o, data, mid.scaler, &mid, cb), vae::Error);
  EXPECT_EQ(recovered, 0);
  // With room for one more, the same fault is recovered from.
  o.max_recoveries = 2;
  cb.after_backward = poison_gradient("decoder.out.weight", once_at(15));
  vae::train(dir.path(), mid.model, o, data, mid.scaler, &mid, cb);
  EXPECT_EQ(recovered, 1);
  EXPECT_EQ(vae::load_checkpoint(dir.file("last.safetensors")).state.lr, 3e-3 / 4);
}

TEST(Recovery, ParametersPushedPastTheFloatRangeAreCaughtBeforeTheyAreSaved) {
  // One batch per epoch and an absurd rate: Adam's step size lr/(1 − β₁) = 1e39 overflows
  // float, so the first step's gradients are finite but the parameters it writes are not. Only
  // the end-of-epoch check sees them; halving the rate twice brings the step size (2.5e38) back
  // under FLT_MAX ≈ 3.4e38.
  vae_test::TempDir dir;
  vae::TrainOptions o = options(1);
  o.batch_size = 300;
  o.lr = 1e38;
  std::vector<vae::TrainRecovery> seen;
  vae::TrainCallbacks cb;
  cb.on_recover = [&](const vae::TrainRecovery& r) { seen.push_back(r); };
  vae::train(dir.path(), small_model(), o, small_data(), {}, nullptr, cb);
  ASSERT_EQ(seen.size(), 2u);
  for (const vae::TrainRecovery& r : seen) {
    // Every tensor took the overflowing step; the one nearest the output is named first.
    EXPECT_EQ(r.what, "parameters decoder.out.bias, decoder.out.weight, decoder.0.bias and 7 "
                      "other tensors");
    EXPECT_EQ(r.step, 1);
    EXPECT_EQ(r.epoch, 1);
  }
  const vae::Checkpoint last = vae::load_checkpoint(dir.file("last.safetensors"));  // finite
  EXPECT_EQ(last.state.lr, 1e38 / 4);
  EXPECT_EQ(last.state.recoveries, 2);
}

TEST(Recovery, IwaeRunsRecoverToo) {
  vae_test::TempDir dir;
  vae::TrainOptions o = options(2);
  o.objective = vae::Objective::Iwae;
  o.k = 3;
  int recovered = 0;
  vae::TrainCallbacks cb;
  cb.after_backward = poison_gradient("encoder.logvar.weight", once_at(4));
  cb.on_recover = [&](const vae::TrainRecovery& r) {
    ++recovered;
    EXPECT_EQ(r.what, "gradient of encoder.logvar.weight");
  };
  vae::train(dir.path(), small_model(), o, small_data(), {}, nullptr, cb);
  EXPECT_EQ(recovered, 1);
  EXPECT_EQ(vae::load_checkpoint(dir.file("last.safetensors")).state.lr, 1.5e-3);
}

TEST(Recovery, NamesWhatIsNotFinite) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  EXPECT_EQ(vae::nonfinite_loss_term({1.0, 2.0}), "");
  EXPECT_EQ(vae::nonfinite_loss_term({nan, 2.0}), "reconstruction term");
  EXPECT_EQ(vae::nonfinite_loss_term({1.0, inf}), "KL term");
  EXPECT_EQ(vae::nonfinite_loss_term({-inf, nan}), "reconstruction and KL terms");
  const double finite = 3.0;
  EXPECT_EQ(vae::nonfinite_loss_term({1.0, 2.0}, &finite), "");
  EXPECT_EQ(vae::nonfinite_loss_term({1.0, 2.0}, &inf), "IWAE objective");
  EXPECT_EQ(vae::nonfinite_loss_term({nan, 2.0}, &inf), "reconstruction term");

  const std::vector<vae::ParamInfo> table = vae::param_table(small_model());
  std::vector<float> v(vae::param_count(small_model()), 0.5f);
  EXPECT_EQ(vae::nonfinite_tensors(table, v.data()), "");
  auto at = [&](const std::string& name) -> float& {
    for (const vae::ParamInfo& p : table)
      if (p.name == name) return v[p.offset + p.numel - 1];  // the last value of each tensor
    ADD_FAILURE() << name;
    return v[0];
  };
  at("encoder.0.weight") = std::numeric_limits<float>::infinity();
  EXPECT_EQ(vae::nonfinite_tensors(table, v.data()), "encoder.0.weight");
  at("decoder.out.bias") = std::nanf("");
  EXPECT_EQ(vae::nonfinite_tensors(table, v.data()), "decoder.out.bias and encoder.0.weight");
  at("encoder.mu.bias") = std::nanf("");
  at("decoder.0.weight") = -std::numeric_limits<float>::infinity();
  EXPECT_EQ(vae::nonfinite_tensors(table, v.data()),
            "decoder.out.bias, decoder.0.weight, encoder.mu.bias and 1 other tensor");
  at("encoder.logvar.weight") = std::nanf("");
  EXPECT_EQ(vae::nonfinite_tensors(table, v.data()),
            "decoder.out.bias, decoder.0.weight, encoder.logvar.weight and 2 other tensors");
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

namespace {

// The whole run's time left: the rest of this epoch at its rate, then the later epochs at the
// last completed epoch's wall time (or at this epoch's rate before one has completed).
TEST(Eta, RemainingEpochsTimesTheMeasuredRate) {
  vae::TrainProgress p;
  p.epoch = 2;
  p.epochs = 5;
  p.batch = 10;
  p.batches = 40;
  p.elapsed_s = 5;  // 0.5 s per batch: 15 s left in this epoch
  EXPECT_DOUBLE_EQ(vae::run_eta_seconds(p, 25), 15 + 3 * 25);
  EXPECT_DOUBLE_EQ(vae::run_eta_seconds(p, 0), 15 + 3 * 40 * 0.5);
  p.epoch = 5;
  p.batch = 40;
  EXPECT_DOUBLE_EQ(vae::run_eta_seconds(p, 25), 0);
}

TEST(Eta, ReportedWithEveryBatchAndZeroAtTheEnd) {
  vae_test::TempDir dir;
  Threads one(1);
  std::vector<vae::TrainProgress> seen;
  vae::TrainCallbacks cb;
  cb.on_batch = [&](const vae::TrainProgress& p) { seen.push_back(p); };
  vae::train(dir.path(), small_model(), options(2), small_data(), vae::Scaler{}, nullptr, cb);
  ASSERT_EQ(seen.size(), 2u * 10u);
  for (const vae::TrainProgress& p : seen) EXPECT_TRUE(std::isfinite(p.eta_s) && p.eta_s >= 0);
  EXPECT_GT(seen.front().eta_s, 0.0);
  EXPECT_EQ(seen.back().eta_s, 0.0);
  // In the first epoch the later one is counted at the first's rate of batches.
  const vae::TrainProgress& first = seen.front();
  EXPECT_DOUBLE_EQ(first.eta_s, first.elapsed_s * (2 * 10 - 1));
}

}  // namespace

namespace {

struct Interrupted {};  // thrown from a hook: the run stops mid-epoch, as a killed one would

// A run of options `o` interrupted in epoch 3 and resumed from its last.safetensors, and the
// same run uninterrupted, both with the same (otherwise idle) after_backward hook.
void interrupted_and_straight(const vae::TrainOptions& o, const vae_test::TempDir& full,
                              const vae_test::TempDir& part) {
  const vae::DataSplits data = small_data();
  const int64_t stop_at = 2 * 10 + 4;  // a step of epoch 3 (10 steps per epoch)
  vae::TrainCallbacks idle, stopping;
  idle.after_backward = [](int64_t, float*, size_t) {};
  stopping.after_backward = [&](int64_t step, float*, size_t) {
    if (step == stop_at) throw Interrupted{};
  };
  vae::train(full.path(), small_model(), o, data, {}, nullptr, idle);
  EXPECT_THROW(vae::train(part.path(), small_model(), o, data, {}, nullptr, stopping), Interrupted);
  const vae::Checkpoint mid = vae::load_checkpoint(part.file("last.safetensors"));
  ASSERT_EQ(mid.state.epoch, 2);
  vae::train(part.path(), mid.model, mid.train, data, mid.scaler, &mid, idle);
}

// The lr of each epoch in metrics.jsonl.
std::vector<double> metric_values(const std::string& path, const char* key) {
  std::vector<double> v;
  for (const std::string& line : lines(path)) {
    const size_t at = line.find(std::string("\"") + key + "\":");
    v.push_back(at == std::string::npos ? NAN : std::stod(line.substr(at + std::strlen(key) + 3)));
  }
  return v;
}

class Schedules : public ::testing::TestWithParam<const char*> {};

// Each schedule resumes bit for bit (plateau's state is in the checkpoint), with weight decay on.
TEST_P(Schedules, ResumeIsBitExactAndTheRateFollowsTheFormula) {
  Threads one(1);
  vae::TrainOptions o = options(6);
  o.lr = 0.05;
  o.lr_schedule = vae::parse_lr_schedule(GetParam());
  o.weight_decay = 0.01;
  vae_test::TempDir full, part;
  interrupted_and_straight(o, full, part);
  const vae::Checkpoint a = vae::load_checkpoint(full.file("last.safetensors"));
  const vae::Checkpoint b = vae::load_checkpoint(part.file("last.safetensors"));
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.adam_v, b.adam_v);
  EXPECT_EQ(a.state.lr_reductions, b.state.lr_reductions);
  const std::vector<double> lr = metric_values(full.file("metrics.jsonl"), "lr");
  const std::vector<double> held = metric_values(full.file("metrics.jsonl"), "test_loss");
  EXPECT_EQ(metric_values(part.file("metrics.jsonl"), "lr"), lr);
  ASSERT_EQ(lr.size(), 6u);
  // The rule recomputed from the held-out losses the run reported.
  double best = INFINITY;
  int64_t best_epoch = 0, last_cut = 0, cuts = 0;
  for (int64_t e = 1; e <= 6; ++e) {
    const int64_t t = e - 1;
    double want = 0.05;
    if (o.lr_schedule.kind == vae::LrSchedule::Kind::Step) want = 0.05 * std::pow(0.5, t / 2);
    if (o.lr_schedule.kind == vae::LrSchedule::Kind::Cosine)
      want = 0.05 * 0.5 * (1 + std::cos(M_PI * t / 6));
    if (o.lr_schedule.kind == vae::LrSchedule::Kind::Plateau) want = 0.05 * std::pow(0.5, cuts);
    EXPECT_NEAR(lr[e - 1], want, 1e-12 * want) << "epoch " << e;
    if (held[e - 1] < best) {
      best = held[e - 1];
      best_epoch = e;
    }
    if (e - std::max(best_epoch, last_cut) >= 1) {
      ++cuts;
      last_cut = e;
    }
  }
  if (o.lr_schedule.kind == vae::LrSchedule::Kind::Plateau) {
    EXPECT_EQ(a.state.lr_reductions, cuts);
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, Schedules,
                         ::testing::Values("none", "step:2:0.5", "cosine", "plateau:1:0.5"));

// Weight decay pulls the parameters toward 0: the same run without it ends with a larger norm.
TEST(Trainer, WeightDecayShrinksTheParameters) {
  Threads one(1);
  vae_test::TempDir plain, decayed;
  vae::TrainOptions o = options(3);
  vae::train(plain.path(), small_model(), o, small_data(), {}, nullptr, {});
  o.weight_decay = 5.0;
  vae::train(decayed.path(), small_model(), o, small_data(), {}, nullptr, {});
  auto norm = [](const std::string& path) {
    double sq = 0;
    for (float v : vae::load_checkpoint(path).params) sq += double(v) * v;
    return std::sqrt(sq);
  };
  EXPECT_LT(norm(decayed.file("last.safetensors")), 0.9 * norm(plain.file("last.safetensors")));
}

}  // namespace

// ---- Behaviour of the objective's options, seen through the gradients the trainer computes ----

// Every step's flat gradient (after backward, before clipping and the update), in step order.
struct GradientLog {
  std::vector<std::vector<float>> steps;
  vae::TrainCallbacks callbacks() {
    vae::TrainCallbacks cb;
    cb.after_backward = [this](int64_t, float* g, size_t n) { steps.emplace_back(g, g + n); };
    return cb;
  }
};

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// The KL weight of each step, read back from gradients. With lr = 1e-30 the parameters do not
// move (a float plus 1e-30 rounds back to itself, but for the zero biases, which move by 1e-30),
// and the batches and ε come from the seed alone, so run r's step s sees the same parameters,
// rows and ε in every run; its gradient is linear in the weight: g(β) = g(0) + β·(g(1) − g(0)).
// So β_s = (g_w − g_0)·(g_1 − g_0) / |g_1 − g_0|². Linear warm-up over 1.5 epochs must give
// β = min(1, (epoch − 1 + b / batches) / 1.5) at batch b (0-based): a new weight every batch,
// not one per epoch.
TEST(Objective, KlWarmupSetsANewWeightForEveryBatch) {
  const vae::DataSplits data = small_data();
  Threads t(1);
  vae::TrainOptions o = options(2);
  o.lr = 1e-30;
  auto gradients = [&](double beta, const std::string& warmup) {
    vae::TrainOptions w = o;
    w.beta = beta;
    w.kl_warmup = vae::parse_kl_warmup(warmup);
    GradientLog log;
    vae_test::TempDir dir;
    vae::train(dir.path(), small_model(), w, data, {}, nullptr, log.callbacks());
    return log.steps;
  };
  const auto g0 = gradients(0.0, "none"), g1 = gradients(1.0, "none");
  const auto gw = gradients(1.0, "linear:1.5");
  const size_t batches = (300 + 31) / 32;
  ASSERT_EQ(g0.size(), 2 * batches);
  ASSERT_EQ(gw.size(), g0.size());
  for (size_t s = 0; s < gw.size(); ++s) {
    std::vector<float> d1(g0[s].size()), dw(g0[s].size());
    for (size_t i = 0; i < d1.size(); ++i) {
      d1[i] = g1[s][i] - g0[s][i];
      dw[i] = gw[s][i] - g0[s][i];
    }
    const double beta = dot(dw, d1) / dot(d1, d1);
    const double epochs_done = static_cast<double>(s / batches) + static_cast<double>(s % batches) / batches;
    EXPECT_NEAR(beta, std::min(1.0, epochs_done / 1.5), 1e-4) << "step " << s;
  }
}

// --clip-grad c: each step's gradient g is scaled by min(1, c / ‖g‖) before Adam, as
// torch.nn.utils.clip_grad_norm_ does. The same scaling done by hand in the gradient hook of
// an unclipped run must give the same parameters (to the rounding of the two norms' sums),
// while the run without any scaling ends elsewhere; and c must have been below ‖g‖ at some
// steps and above it at others, so that both branches ran.
TEST(Objective, ClippingScalesTheGradientToTheGivenNorm) {
  const vae::DataSplits data = small_data();
  Threads t(1);
  // c: the median of the unclipped run's gradient norms, so that both branches are taken.
  std::vector<double> norms;
  vae::TrainCallbacks record;
  record.after_backward = [&](int64_t, float* g, size_t n) {
    double sq = 0;
    for (size_t i = 0; i < n; ++i) sq += static_cast<double>(g[i]) * g[i];
    norms.push_back(std::sqrt(sq));
  };
  vae_test::TempDir probe;
  vae::train(probe.path(), small_model(), options(2), data, {}, nullptr, record);
  ASSERT_FALSE(norms.empty());
  std::nth_element(norms.begin(), norms.begin() + norms.size() / 2, norms.end());
  const double c = norms[norms.size() / 2];
  vae::TrainOptions clipped = options(2);
  clipped.clip_grad = c;
  vae_test::TempDir a, b, plain;
  int scaled = 0, kept = 0;
  vae::train(a.path(), small_model(), clipped, data, {}, nullptr, {});
  vae::TrainCallbacks by_hand;
  by_hand.after_backward = [&](int64_t, float* g, size_t n) {
    double sq = 0;
    for (size_t i = 0; i < n; ++i) sq += static_cast<double>(g[i]) * g[i];
    const double norm = std::sqrt(sq);
    if (norm <= c) {
      ++kept;
      return;
    }
    ++scaled;
    for (size_t i = 0; i < n; ++i) g[i] *= static_cast<float>(c / norm);
  };
  vae::train(b.path(), small_model(), options(2), data, {}, nullptr, by_hand);
  vae::train(plain.path(), small_model(), options(2), data, {}, nullptr, {});
  EXPECT_GT(scaled, 0);
  EXPECT_GT(kept, 0);
  const auto pa = vae::load_checkpoint(a.file("last.safetensors")).params;
  const auto pb = vae::load_checkpoint(b.file("last.safetensors")).params;
  const auto pp = vae::load_checkpoint(plain.file("last.safetensors")).params;
  ASSERT_EQ(pa.size(), pb.size());
  double same = 0, apart = 0;
  for (size_t i = 0; i < pa.size(); ++i) {
    same = std::max(same, static_cast<double>(std::fabs(pa[i] - pb[i])));
    apart = std::max(apart, static_cast<double>(std::fabs(pa[i] - pp[i])));
  }
  EXPECT_LT(same, 1e-5);
  EXPECT_GT(apart, 1e-3);
}

// Free bits (Σ_j max(λ, KL̄_j), a batch mean inside a max) do not split over data-parallel
// parts, so the trainer runs them as one part whatever the thread count: two threads give the
// one-thread run's figures, and the minimised objective is not the plain one.
TEST(Objective, FreeBitsGiveTheSameRunOnTwoThreadsAsOnOne) {
  const vae::DataSplits data = small_data();
  vae::TrainOptions o = options(3);
  o.batch_size = 64;  // two parts of 32 on two threads without free bits
  o.free_bits = 0.5;
  std::vector<vae::EpochMetrics> one, two;
  vae::TrainCallbacks cb1, cb2;
  cb1.on_epoch = [&](const vae::EpochMetrics& m) { one.push_back(m); };
  cb2.on_epoch = [&](const vae::EpochMetrics& m) { two.push_back(m); };
  vae_test::TempDir d1, d2;
  {
    Threads t(1);
    vae::train(d1.path(), small_model(), o, data, {}, nullptr, cb1);
  }
  {
    Threads t(2);
    vae::train(d2.path(), small_model(), o, data, {}, nullptr, cb2);
  }
  ASSERT_EQ(one.size(), 3u);
  ASSERT_EQ(two.size(), 3u);
  for (size_t e = 0; e < 3; ++e) {
    EXPECT_NEAR(two[e].train_loss, one[e].train_loss, 1e-4 * one[e].train_loss) << e;
    EXPECT_NEAR(two[e].train_objective, one[e].train_objective, 1e-4 * one[e].train_objective) << e;
    EXPECT_NEAR(two[e].test_loss, one[e].test_loss, 1e-4 * one[e].test_loss) << e;
    // Σ_j max(λ, KL̄_j) ≥ Z·λ and ≥ KL̄: the objective is not recon + KL once a dimension sits below λ.
    EXPECT_GE(one[e].train_objective, one[e].train_recon + 2 * 0.5 - 1e-9) << e;
  }
}
