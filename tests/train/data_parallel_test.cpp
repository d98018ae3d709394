// DataParallel (src/train/data_parallel.h): a step split over P parts gives the one-model
// step's losses, objective and gradient (double precision, to rounding), for uneven splits,
// batches smaller than P, conditional models, conv models and the IWAE objective; the update
// keeps every replica's parameters equal to the model's, so later steps agree too. Distributed
// views: parts run elsewhere arrive through share(), or through an exchange that overlaps the
// backward pass (the same transfers in the same order for every process, each bucket posted
// when final), with the one-model result.
#include "train/data_parallel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
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

// A DataParallel step's figures (`got`) and its reduced gradient against one model's step on
// the same batch (want, want_obj, ref's gradient).
void expect_one_model_step(const vae::DataParallel<double>::StepResult& got,
                           const vae::LossParts& want, double want_obj,
                           vae::DataParallel<double>& dp, const vae::Vae<double>& model,
                           const vae::Vae<double>& ref) {
  ASSERT_TRUE(got.finite);
  expect_near_rel(got.loss.recon, want.recon, "recon");
  expect_near_rel(got.loss.kl, want.kl, "kl");
  expect_near_rel(got.objective, want_obj, "objective");
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
  expect_one_model_step(got, want, want_obj, dp, model, ref);
}

TEST(DataParallel, GradientBucketsGroupAdjacentSlicesUpToTheLimit) {
  // Slices as backward finishes them: downwards through memory, then one elsewhere.
  const std::vector<vae::GradRange> slices = {{90, 100}, {60, 90}, {50, 60}, {0, 50}, {200, 210}};
  std::vector<int> end;
  const std::vector<vae::GradRange> buckets = vae::gradient_buckets(slices, 40, &end);
  const std::vector<vae::GradRange> want = {{60, 100}, {50, 60}, {0, 50}, {200, 210}};
  EXPECT_EQ(buckets, want);
  EXPECT_EQ(end, (std::vector<int>{-1, 0, 1, 2, 3}));
  // A limit below every slice: one bucket per slice.
  EXPECT_EQ(vae::gradient_buckets(slices, 1, &end).size(), slices.size());
  EXPECT_EQ(end, (std::vector<int>{0, 1, 2, 3, 4}));
}

// A process's side of the overlapped exchange: it logs every post and progress call; a part run
// here is copied when posted (what would be sent then), a part run elsewhere is filled at wait()
// with that part's gradient and figures (what would have arrived).
struct LoggedExchange final : vae::PartExchange {
  struct Post {
    int part;
    size_t bytes;
    void* data;
    std::vector<char> sent;
  };
  void post(int part, void* data, size_t bytes) override {
    const char* c = static_cast<const char*>(data);
    posts.push_back({part, bytes, data, std::vector<char>(c, c + bytes)});
    log.push_back('p');
  }
  void progress() override { log.push_back('t'); }
  void wait() override {
    log.push_back('w');
    std::vector<size_t> item(grads.size(), 0);
    for (const Post& p : posts) {
      if (p.part == here) continue;
      const size_t i = item[static_cast<size_t>(p.part)]++;
      const double* from = i < buckets.size() ? grads[static_cast<size_t>(p.part)].data() + buckets[i].lo
                                              : fields[static_cast<size_t>(p.part)].data();
      std::memcpy(p.data, from, p.bytes);
    }
  }
  int here = 0;
  std::vector<vae::GradRange> buckets;
  std::vector<std::vector<double>> grads, fields;  // (P) what each part's process computes
  std::vector<Post> posts;
  std::string log;
};

// Every process's view of a P-part step whose exchange overlaps the backward pass: each runs
// one part; all post the same transfers in the same order (part by part: its buckets, then its
// figures); a bucket of the part run here holds its final values when posted, and its posts are
// spread over the backward pass (progress calls between them); the step equals one model's.
void check_overlapped_exchange(const vae::ModelConfig& cfg, int B, int P, size_t bucket_bytes) {
  SCOPED_TRACE(cfg.describe());
  const int rows = B / P;  // B a multiple of P here
  vae::Vae<double> ref(cfg, B);
  vae::Rng init(6);
  ref.init_params(init);
  const size_t n = ref.num_params();
  const Batch b = make_batch(cfg, B, 1, 12);
  LoggedExchange base;
  for (int p = 0; p < P; ++p) {  // what each part's process computes
    vae::Vae<double> one(cfg, rows);
    std::copy(ref.params(), ref.params() + n, one.params());
    one.zero_grad();
    const size_t x0 = static_cast<size_t>(p) * rows * cfg.input_dim, e0 = static_cast<size_t>(p) * rows * cfg.latent;
    const vae::LossParts l = one.forward(b.x.data() + x0, b.eps.data() + e0, rows);
    const double obj = one.backward(b.x.data() + x0, rows);
    base.grads.emplace_back(one.grads(), one.grads() + n);
    base.fields.push_back({l.recon, l.kl, 0.0, obj, 1.0});
  }
  std::vector<int> end;
  base.buckets = vae::gradient_buckets(ref.backward_ranges(), bucket_bytes / sizeof(double), &end);
  ASSERT_GT(base.buckets.size(), 2u);
  ref.zero_grad();
  const vae::LossParts want = ref.forward(b.x.data(), b.eps.data(), B);
  const double want_obj = ref.backward(b.x.data(), B);

  std::vector<std::pair<int, size_t>> first_order;
  for (int here = 0; here < P; ++here) {
    SCOPED_TRACE("part " + std::to_string(here) + " here");
    vae::Vae<double> model(cfg, B);
    std::copy(ref.params(), ref.params() + n, model.params());
    LoggedExchange ex = base;
    ex.here = here;
    vae::PartSharing<double> sharing;
    sharing.first = here;
    sharing.last = here + 1;
    sharing.exchange = &ex;
    sharing.bucket_bytes = bucket_bytes;
    sharing.share = [](int, double*, size_t, double*) { FAIL() << "share() called with an exchange"; };
    vae::DataParallel<double> dp(model, P, B, 1, &sharing);
    const auto got = dp.step(b.x.data(), b.eps.data(), B, 1, nullptr, false);

    // The same sequence for every process: part by part, its buckets then its figures.
    std::vector<std::pair<int, size_t>> order;
    for (const auto& p : ex.posts) order.emplace_back(p.part, p.bytes);
    ASSERT_EQ(order.size(), static_cast<size_t>(P) * (base.buckets.size() + 1));
    for (size_t i = 0; i < order.size(); ++i) {
      const size_t item = i % (base.buckets.size() + 1);
      EXPECT_EQ(order[i].first, static_cast<int>(i / (base.buckets.size() + 1)));
      const vae::GradRange r = item < base.buckets.size() ? base.buckets[item] : vae::GradRange{0, 5};
      EXPECT_EQ(order[i].second, (r.hi - r.lo) * sizeof(double)) << "transfer " << i;
    }
    if (here == 0) first_order = order;
    EXPECT_EQ(order, first_order);
    // The part run here: each bucket as sent is its final gradient.
    size_t item = 0;
    for (const auto& p : ex.posts) {
      if (p.part != here || item == base.buckets.size()) continue;
      const vae::GradRange r = base.buckets[item++];
      std::vector<double> sent(r.hi - r.lo);
      std::memcpy(sent.data(), p.sent.data(), p.bytes);
      for (size_t j = r.lo; j < r.hi; ++j)
        ASSERT_NEAR(sent[j - r.lo], base.grads[static_cast<size_t>(here)][j], 1e-12 * (1 + std::fabs(base.grads[static_cast<size_t>(here)][j]))) << j;
    }
    // Its posts spread over its backward: a progress call between its first and last bucket.
    const std::string log = ex.log;
    size_t k = 0, first = std::string::npos, last = 0;
    for (size_t i = 0; i < log.size(); ++i) {
      if (log[i] != 'p') continue;
      const size_t in_seq = k++;
      const size_t items = base.buckets.size() + 1;  // per part: its buckets, its figures
      if (static_cast<int>(in_seq / items) != here || in_seq % items == items - 1) continue;
      if (first == std::string::npos) first = i;
      last = i;
    }
    EXPECT_NE(log.substr(first, last - first).find('t'), std::string::npos) << log;
    EXPECT_EQ(log.back(), 'w');

    expect_one_model_step(got, want, want_obj, dp, model, ref);
  }
}

TEST(DataParallel, AnOverlappedExchangePostsOneSequenceEverywhereAndGivesTheOneModelStep) {
  check_overlapped_exchange(mlp_config(), 9, 3, 64);
  check_overlapped_exchange(conv_config(), 8, 2, 128);
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
