// The inference API (include/vae/infer.h): its numbers are the Vae path's (encode, decode,
// sample, reconstruct, score), the checkpoint's scaling is applied and undone, bad shapes and
// labels throw, and full and weights-only checkpoints load to the same model.
#include <gtest/gtest.h>

#include <vector>

#include "infer/infer_util.h"
#include "test_util.h"
#include "vae/eval.h"
#include "vae/infer.h"

namespace {

using vae::ConstView;
using vae::LabelView;
using vae::MutView;
using vae_test::infer_checkpoint;
using vae_test::infer_rows;

// Vae with the inference API's chunk size (256, as `vae encode`), the checkpoint's weights.
vae::Vae<float> reference(const vae::Checkpoint& c) { return vae::model_from_checkpoint(c, 256); }

TEST(InferModel, EncodeDecodeReconstructEqualTheVaePath) {
  const vae::Checkpoint c = infer_checkpoint();
  const vae::Model m(c);
  vae::Vae<float> ref = reference(c);
  for (size_t n : {size_t{1}, size_t{7}, size_t{300}}) {  // 300: more than one chunk
    const std::vector<float> x = infer_rows(n, 12, false);
    std::vector<float> mu(n * 4), lv(n * 4), rmu(n * 4), rlv(n * 4);
    m.encode({x.data(), n, 12}, {mu.data(), n, 4}, {lv.data(), n, 4});
    ref.encode(x.data(), n, rmu.data(), rlv.data());
    EXPECT_EQ(mu, rmu) << n;
    EXPECT_EQ(lv, rlv) << n;

    std::vector<float> out(n * 12), rout(n * 12), rec(n * 12);
    m.decode({mu.data(), n, 4}, {out.data(), n, 12});
    ref.decode(mu.data(), n, rout.data());
    EXPECT_EQ(out, rout) << n;
    m.reconstruct({x.data(), n, 12}, {rec.data(), n, 12});
    EXPECT_EQ(rec, rout) << n;
  }
}

TEST(InferModel, SampleDecodesPriorDrawsOfTheSeed) {
  const vae::Checkpoint c = infer_checkpoint();
  const vae::Model m(c);
  vae::Vae<float> ref = reference(c);
  std::vector<float> z(5 * 4), out(5 * 12), rout(5 * 12);
  vae::Rng(42).normal_fill(z.data(), z.size());
  ref.decode(z.data(), 5, rout.data());
  m.sample(42, {out.data(), 5, 12});
  EXPECT_EQ(out, rout);
}

TEST(InferModel, ScoreIsTheEvalModulesElboAndIwEstimate) {
  const vae::Checkpoint c = infer_checkpoint();
  const vae::Model m(c);
  vae::Vae<float> ref = reference(c);
  vae::Dataset d;
  d.n = 20;
  d.d = 12;
  d.x = infer_rows(20, 12, false);
  std::vector<float> s(20);
  m.score({d.x.data(), 20, 12}, {s.data(), 20, 1});
  const vae::ElboResult elbo = vae::evaluate_elbo(ref, d, vae::kEvalSeed, true);
  for (size_t i = 0; i < 20; ++i)
    EXPECT_EQ(s[i], static_cast<float>(static_cast<double>(elbo.recon_rows[i]) + elbo.kl_rows[i]));
  vae::ScoreOptions iw;
  iw.importance_samples = 16;
  m.score({d.x.data(), 20, 12}, {s.data(), 20, 1}, iw);
  const vae::IwResult r = vae::evaluate_iw(ref, d, 16);
  for (size_t i = 0; i < 20; ++i) EXPECT_EQ(s[i], static_cast<float>(-r.per_example[i]));
}

TEST(InferModel, ScalingIsAppliedOnTheWayInAndUndoneOnTheWayOut) {
  const vae::Checkpoint c = infer_checkpoint(0, /*standardize=*/true);
  const vae::Model m(c);
  vae::Vae<float> ref = reference(c);
  const size_t n = 6;
  const std::vector<float> raw = infer_rows(n, 12, true);
  vae::Dataset scaled;
  scaled.n = n;
  scaled.d = 12;
  scaled.x = raw;
  c.scaler.apply(scaled);
  std::vector<float> mu(n * 4), lv(n * 4), rmu(n * 4), rlv(n * 4);
  m.encode({raw.data(), n, 12}, {mu.data(), n, 4}, {lv.data(), n, 4});
  ref.encode(scaled.x.data(), n, rmu.data(), rlv.data());
  EXPECT_EQ(mu, rmu);  // raw rows in, the μ the old path gave for scaled rows
  std::vector<float> unscaled_mu(n * 4), unscaled_lv(n * 4);
  ref.encode(raw.data(), n, unscaled_mu.data(), unscaled_lv.data());
  EXPECT_NE(mu, unscaled_mu);  // and not what raw rows through the old path give

  std::vector<float> out(n * 12), rout(n * 12);
  m.decode({mu.data(), n, 4}, {out.data(), n, 12});
  ref.decode(mu.data(), n, rout.data());
  c.scaler.invert(rout.data(), n);
  EXPECT_EQ(out, rout);  // decoded means in data units
}

TEST(InferModel, ConditionalModelsTakeOneLabelPerRow) {
  const vae::Checkpoint c = infer_checkpoint(3);
  const vae::Model m(c);
  vae::Vae<float> ref = reference(c);
  const std::vector<float> x = infer_rows(4, 12, false);
  const std::vector<int32_t> y = {2, 0, 1, 2};
  std::vector<float> mu(16), lv(16), rmu(16), rlv(16);
  m.encode({x.data(), 4, 12}, {mu.data(), 4, 4}, {lv.data(), 4, 4}, {y.data(), 4});
  ref.encode(x.data(), 4, rmu.data(), rlv.data(), y.data());
  EXPECT_EQ(mu, rmu);
  EXPECT_EQ(m.num_classes(), 3);
  std::vector<float> out(48);
  EXPECT_NE(vae_test::error_of([&] {
              m.decode({mu.data(), 4, 4}, {out.data(), 4, 12});
            }).find("needs one label per row"),
            std::string::npos);
  const std::vector<int32_t> bad = {0, 3, 0, 0};
  EXPECT_EQ(vae_test::error_of([&] {
              m.decode({mu.data(), 4, 4}, {out.data(), 4, 12}, {bad.data(), 4});
            }),
            "labels[1]: must be in 0..2, got 3");
}

TEST(InferModel, BadShapesThrowNamingTheArgumentAndWriteNothing) {
  const vae::Model m(infer_checkpoint());
  std::vector<float> x(4 * 12, 0.5f), mu(4 * 4, -7.0f), lv(4 * 4), out(4 * 12), s(4);
  auto err = [](auto f) { return vae_test::error_of(f); };
  EXPECT_EQ(err([&] {
              m.encode({x.data(), 4, 11}, {mu.data(), 4, 4}, {lv.data(), 4, 4});
            }),
            "x: has 11 columns, the model's data size is 12");
  EXPECT_EQ(err([&] {
              m.encode({x.data(), 4, 12}, {mu.data(), 3, 4}, {lv.data(), 4, 4});
            }),
            "mu: has 3 rows, x has 4");
  EXPECT_EQ(err([&] {
              m.encode({x.data(), 4, 12}, {mu.data(), 4, 4}, {lv.data(), 4, 5});
            }),
            "logvar: has 5 columns, the model's latent size is 4");
  EXPECT_EQ(err([&] {
              m.decode({mu.data(), 4, 4}, {out.data(), 2, 12});
            }),
            "x: has 2 rows, z has 4");
  EXPECT_EQ(err([&] {
              m.reconstruct({x.data(), 4, 12}, {nullptr, 4, 12});
            }),
            "x_hat: no memory (null data)");
  EXPECT_EQ(err([&] {
              m.score({x.data(), 4, 12}, {s.data(), 4, 2});
            }),
            "scores: has 2 columns, one score per row is 1");
  vae::ScoreOptions o;
  o.importance_samples = -1;
  EXPECT_EQ(err([&] {
              m.score({x.data(), 4, 12}, {s.data(), 4, 1}, o);
            }),
            "importance_samples: must be in 0..100000, got -1");
  const int32_t y[4] = {0, 0, 0, 0};
  EXPECT_EQ(err([&] {
              m.sample(1, {out.data(), 4, 12}, {y, 4});
            }),
            "labels: the model is not conditional; pass none");
  for (float v : mu) EXPECT_EQ(v, -7.0f);  // nothing written by the failed calls
  // Zero rows is a batch like any other.
  EXPECT_EQ(err([&] { m.encode({nullptr, 0, 12}, {nullptr, 0, 4}, {nullptr, 0, 4}); }), "");
}

TEST(InferModel, ModelFromCheckpointRefusesZeroRowsWithAnError) {
  const vae::Checkpoint c = infer_checkpoint();
  EXPECT_EQ(vae_test::error_of([&] { vae::model_from_checkpoint(c, 0); }),
            "max_batch: must be >= 1, got 0");
  vae::Checkpoint short_params = c;
  short_params.params.pop_back();
  EXPECT_NE(vae_test::error_of([&] { vae::Model{short_params}; }).find("parameters"),
            std::string::npos);
}

TEST(InferModel, FullAndWeightsOnlyCheckpointsLoadToTheSameModel) {
  vae_test::TempDir dir;
  vae::Checkpoint full = infer_checkpoint(0, true);
  full.adam_m.assign(full.params.size(), 0.25f);
  full.adam_v.assign(full.params.size(), 0.5f);
  vae::save_checkpoint(dir.file("full.safetensors"), full);
  vae::Checkpoint small = full;
  small.adam_m.clear();
  small.adam_v.clear();
  vae::save_checkpoint(dir.file("small.safetensors"), small);
  const vae::Model a = vae::Model::load(dir.file("full.safetensors"));
  const vae::Model b = vae::Model::load(dir.file("small.safetensors"));
  const std::vector<float> x = infer_rows(3, 12, true);
  std::vector<float> ra(36), rb(36);
  a.reconstruct({x.data(), 3, 12}, {ra.data(), 3, 12});
  b.reconstruct({x.data(), 3, 12}, {rb.data(), 3, 12});
  EXPECT_EQ(ra, rb);
  EXPECT_EQ(b.scaler().offset, full.scaler.offset);
  EXPECT_NE(vae_test::error_of([&] {
              vae::Model::load(dir.file("missing.safetensors"));
            }).find("missing.safetensors"),
            std::string::npos);
}

}  // namespace
