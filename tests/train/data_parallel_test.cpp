// DataParallel (src/train/data_parallel.h): a step split over P parts gives the one-model
// step's losses, objective and gradient (double precision, to rounding), for uneven splits,
// batches smaller than P, conditional models, conv models and the IWAE objective; the update
// keeps every replica's parameters equal to the model's, so later steps agree too.
#include "train/data_parallel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "layer_specs.h"
#include "optim/adam.h"
#include "vae/model.h"
#include "vae/rng.h"

namespace {

vae::ModelConfig mlp_config(int num_classes = 0) {
  vae::ModelConfig c;
  c.input_dim = 12;
  c.height = 3;
  c.width = 4;
  c.channels = 1;
  c.hidden = {7, 5};
  c.latent = 3;
  c.activation = vae::Activation::Tanh;
  c.num_classes = num_classes;
  return c;
}

// Conv encoder 1×6×6 → 2×3×3 → dense 4; decoder dense 8, reshape 2×2×2, conv_transpose to 1×6×6.
vae::ModelConfig conv_config() {
  return vae_test::custom_config(
      6, 2, vae::Activation::Relu, {vae::conv_layer(2, 3, 2, 1), vae::dense_layer(4)},
      {vae::dense_layer(8), vae::reshape_layer(2, 2, 2), vae::conv_transpose_layer(1, 4, 2)});
}

struct Batch {
  std::vector<double> x, eps;
  std::vector<int32_t> labels;
};

Batch make_batch(const vae::ModelConfig& c, int B, int K, uint64_t seed) {
  vae::Rng rng(seed);
  Batch b;
  b.x.resize(static_cast<size_t>(B) * c.input_dim);
  for (double& v : b.x) v = rng.uniform();
  b.eps.resize(static_cast<size_t>(K) * B * c.latent);
  rng.normal_fill(b.eps.data(), b.eps.size());
  for (int i = 0; i < B; ++i) b.labels.push_back(c.num_classes ? i % c.num_classes : 0);
  return b;
}

void expect_near_rel(double a, double b, const std::string& what) {
  EXPECT_NEAR(a, b, 1e-11 * (1 + std::fabs(b))) << what;
}

// One step of the reference (one model, all rows) against DataParallel with `parts` parts;
// then an Adam update on both (grad_scale 0.5) and a second step, so stale replica parameters
// would show.
void check(const vae::ModelConfig& cfg, int parts, int B, int K, bool iwae, double beta) {
  SCOPED_TRACE("parts " + std::to_string(parts) + ", B " + std::to_string(B) + ", K " +
               std::to_string(K) + (iwae ? ", iwae" : ""));
  const int max_batch = 13;
  vae::Vae<double> ref(cfg, max_batch, K), dp_model(cfg, max_batch, K);
  vae::Rng init(5);
  ref.init_params(init);
  std::copy(ref.params(), ref.params() + ref.num_params(), dp_model.params());
  vae::DataParallel<double> dp(dp_model, parts, max_batch, K);
  EXPECT_EQ(dp.parts(), parts);
  vae::Adam<double> adam_ref(ref.num_params(), vae::AdamConfig{1e-2});
  vae::Adam<double> adam_dp(ref.num_params(), vae::AdamConfig{1e-2});
  const size_t n = ref.num_params();

  // Step 0: reduce() then update() with grad_scale 0.5 (the clipping path); steps 1 and 2:
  // update_fused(). Stale or unshared replica parameters would show from step 1 on.
  for (int step = 0; step < 3; ++step) {
    const Batch b = make_batch(cfg, B, K, 100 + step);
    const int32_t* labels = cfg.num_classes ? b.labels.data() : nullptr;
    ref.zero_grad();
    vae::LossParts want;
    double want_iw = 0, want_obj;
    if (iwae) {
      want = ref.forward_iw(b.x.data(), b.eps.data(), B, K, labels);
      want_iw = ref.iw_objective();
      want_obj = ref.backward(b.x.data(), B);
    } else {
      want = ref.forward(b.x.data(), b.eps.data(), B, labels);
      want_obj = ref.backward(b.x.data(), B, beta);
    }
    double sq = 0;
    for (size_t i = 0; i < n; ++i) sq += ref.grads()[i] * ref.grads()[i];
    const auto got = dp.step(b.x.data(), b.eps.data(), B, K, labels, iwae, beta);
    ASSERT_TRUE(got.finite);
    expect_near_rel(got.loss.recon, want.recon, "recon");
    expect_near_rel(got.loss.kl, want.kl, "kl");
    expect_near_rel(got.iw, want_iw, "iw");
    expect_near_rel(got.objective, want_obj, "objective");
    if (step == 0) {
      expect_near_rel(dp.reduce(), sq, "reduce's sum of squares");
      for (size_t i = 0; i < n; ++i)
        ASSERT_NEAR(dp_model.grads()[i], ref.grads()[i], 1e-11 * (1 + std::fabs(ref.grads()[i])))
            << "gradient " << i;
      for (size_t i = 0; i < n; ++i) ref.grads()[i] *= 0.5;
      adam_ref.step(ref.params(), ref.grads());
      dp.update(adam_dp, 0.5);
    } else {
      expect_near_rel(dp.update_fused(adam_dp), sq, "update_fused's sum of squares");
      adam_ref.step(ref.params(), ref.grads());
    }
    EXPECT_EQ(adam_dp.steps(), adam_ref.steps());
    for (size_t i = 0; i < n; ++i)
      ASSERT_NEAR(dp_model.params()[i], ref.params()[i], 1e-11) << "parameter " << i << " at step " << step;
  }
}

TEST(DataParallel, MlpStepsMatchOneModelForEverySplit) {
  for (int parts : {1, 2, 3, 5})
    for (int B : {1, 2, 7, 13}) check(mlp_config(), parts, B, 1, false, 0.7);
}

TEST(DataParallel, ConditionalConvAndIwaeStepsMatchOneModel) {
  check(mlp_config(3), 2, 9, 1, false, 1.0);
  check(conv_config(), 2, 13, 1, false, 1.0);
  check(conv_config(), 3, 8, 1, false, 1.0);
  for (int parts : {1, 2, 3}) check(mlp_config(), parts, 7, 4, true, 1.0);
  check(mlp_config(2), 2, 5, 3, true, 1.0);
}

TEST(DataParallel, ReplicasShareTheModelsParameters) {
  const vae::ModelConfig cfg = mlp_config();
  vae::Vae<double> ref(cfg, 8), model(cfg, 8);
  vae::Rng init(9);
  ref.init_params(init);
  vae::DataParallel<double> dp(model, 2, 8);  // model's parameters are still zero here
  std::copy(ref.params(), ref.params() + ref.num_params(), model.params());
  const Batch b = make_batch(cfg, 8, 1, 3);
  ref.zero_grad();
  ref.forward(b.x.data(), b.eps.data(), 8);
  ref.backward(b.x.data(), 8);
  dp.step(b.x.data(), b.eps.data(), 8, 1, nullptr, false);
  dp.reduce();
  for (size_t i = 0; i < ref.num_params(); ++i)
    ASSERT_NEAR(model.grads()[i], ref.grads()[i], 1e-11 * (1 + std::fabs(ref.grads()[i]))) << i;
}

// One process's view of a distributed step (PartSharing): it runs part 1 of 3 alone, with a
// replica for that part only, and receives parts 0 and 2 through share(); the reduced gradient
// and the batch's figures equal the one-model step's.
TEST(DataParallel, PartsRunElsewhereArriveThroughShareWithoutReplicas) {
  const vae::ModelConfig cfg = mlp_config();
  const int B = 9, P = 3;  // parts of 3 rows
  vae::Vae<double> ref(cfg, B), model(cfg, B);
  vae::Rng init(4);
  ref.init_params(init);
  std::copy(ref.params(), ref.params() + ref.num_params(), model.params());
  const size_t n = ref.num_params();
  const Batch b = make_batch(cfg, B, 1, 8);
  // What the other processes would send: each part's gradient of its own mean and its figures.
  std::vector<std::vector<double>> part_grads(P);
  std::vector<std::vector<double>> part_fields(P);
  for (int p = 0; p < P; ++p) {
    vae::Vae<double> one(cfg, 3);
    std::copy(ref.params(), ref.params() + n, one.params());
    one.zero_grad();
    const vae::LossParts l = one.forward(b.x.data() + p * 3 * cfg.input_dim, b.eps.data() + p * 3 * cfg.latent, 3);
    const double obj = one.backward(b.x.data() + p * 3 * cfg.input_dim, 3);
    part_grads[p].assign(one.grads(), one.grads() + n);
    part_fields[p] = {l.recon, l.kl, 0.0, obj, 1.0};
  }
  std::vector<int> shared;
  vae::PartSharing<double> sharing;
  sharing.first = 1;
  sharing.last = 2;
  sharing.share = [&](int p, double* grads, size_t count, double* fields) {
    ASSERT_EQ(count, n);
    shared.push_back(p);
    if (p == 1) {  // run here: the same gradient as the part's own model
      for (size_t i = 0; i < n; ++i) EXPECT_NEAR(grads[i], part_grads[1][i], 1e-12 * (1 + std::fabs(part_grads[1][i])));
      return;
    }
    std::copy(part_grads[p].begin(), part_grads[p].end(), grads);
    std::copy(part_fields[p].begin(), part_fields[p].end(), fields);
  };
  vae::DataParallel<double> dp(model, P, B, 1, &sharing);
  EXPECT_EQ(dp.replicas(), 1);  // part 1's; part 2 arrives in a plain buffer
  EXPECT_EQ(vae::DataParallel<double>(model, P, B).replicas(), 2);
  ref.zero_grad();
  const vae::LossParts want = ref.forward(b.x.data(), b.eps.data(), B);
  const double want_obj = ref.backward(b.x.data(), B);
  const auto got = dp.step(b.x.data(), b.eps.data(), B, 1, nullptr, false);
  EXPECT_EQ(shared, (std::vector<int>{0, 1, 2}));  // every part, in part order
  ASSERT_TRUE(got.finite);
  expect_near_rel(got.loss.recon, want.recon, "recon");
  expect_near_rel(got.loss.kl, want.kl, "kl");
  expect_near_rel(got.objective, want_obj, "objective");
  dp.reduce();
  for (size_t i = 0; i < n; ++i)
    ASSERT_NEAR(model.grads()[i], ref.grads()[i], 1e-11 * (1 + std::fabs(ref.grads()[i]))) << i;
}

TEST(Adam, UpdateReducedEqualsReducingThenStepping) {
  const size_t n = 203;  // not a multiple of the 32-wide blocks
  vae::Rng rng(4);
  std::vector<double> g0(n), g1(n), g2(n), p(n), q(n), g(n);
  for (size_t i = 0; i < n; ++i) {
    g0[i] = rng.uniform() - 0.5;
    g1[i] = rng.uniform() - 0.5;
    g2[i] = rng.uniform() - 0.5;
    p[i] = q[i] = rng.uniform();
  }
  const double w[3] = {0.5, 0.25, 0.25};
  double* gs[3] = {g0.data(), g1.data(), g2.data()};
  vae::Adam<double> a(n, vae::AdamConfig{1e-2}), b(n, vae::AdamConfig{1e-2});
  for (int step = 0; step < 3; ++step) {
    double sq = 0;
    for (size_t i = 0; i < n; ++i) {
      g[i] = w[0] * g0[i] + w[1] * g1[i] + w[2] * g2[i];
      sq += g[i] * g[i];
    }
    a.step(p.data(), g.data());
    b.begin_step();
    const double got = b.update_reduced(q.data(), gs, w, 3, 0, 100) +
                       b.update_reduced(q.data(), gs, w, 3, 100, n);
    EXPECT_NEAR(got, sq, 1e-12 * sq);
    for (size_t i = 0; i < n; ++i) ASSERT_NEAR(q[i], p[i], 1e-14) << i;
  }
}

// update_fused consumes the gradients (zero afterwards, so the next step skips zero_grad: the
// three-step checks above rely on that), and a non-finite gradient leaves NaN in exactly its
// parameters.
TEST(DataParallel, UpdateFusedZeroesTheGradientsAndMarksNonFiniteOnes) {
  const vae::ModelConfig cfg = mlp_config();
  vae::Vae<double> model(cfg, 6);
  vae::Rng init(2);
  model.init_params(init);
  vae::DataParallel<double> dp(model, 2, 6);
  vae::Adam<double> adam(model.num_params(), vae::AdamConfig{1e-3});
  const Batch b = make_batch(cfg, 6, 1, 4);
  dp.step(b.x.data(), b.eps.data(), 6, 1, nullptr, false);
  const size_t bad = 17;
  model.grads()[bad] = std::numeric_limits<double>::infinity();
  model.grads()[bad + 1] = std::nan("");
  EXPECT_FALSE(std::isfinite(dp.update_fused(adam)));
  for (size_t i = 0; i < model.num_params(); ++i) {
    EXPECT_EQ(model.grads()[i], 0.0) << i;
    EXPECT_EQ(std::isnan(model.params()[i]), i == bad || i == bad + 1) << i;
  }
}

TEST(DataParallel, NonFiniteLossSkipsTheGradient) {
  const vae::ModelConfig cfg = mlp_config();
  vae::Vae<double> model(cfg, 6);
  vae::Rng init(2);
  model.init_params(init);
  vae::DataParallel<double> dp(model, 2, 6);
  Batch b = make_batch(cfg, 6, 1, 4);
  b.x[5 * cfg.input_dim] = std::nan("");  // a row of part 1
  const auto r = dp.step(b.x.data(), b.eps.data(), 6, 1, nullptr, false);
  EXPECT_FALSE(r.finite);
  EXPECT_FALSE(std::isfinite(r.loss.total()));
}

}  // namespace
