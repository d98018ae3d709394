// Linear layer: forward against the definition, backward against finite differences of
// L = Σ r ⊙ y (double precision), and the accumulate rule checked with sentinel-filled buffers.
#include <gtest/gtest.h>

#include <vector>

#include "gradcheck.h"
#include "vae/nn.h"

namespace {

using vae_test::check_gradient;
using vae_test::dot;
using vae_test::fill_uniform;

TEST(Linear, ForwardMatchesDefinition) {
  // x (2,3), W (2,3), b (2): y[r,o] = Σ_i x[r,i] W[o,i] + b[o]
  const double x[] = {1, 2, 3, 4, 5, 6};
  const double w[] = {1, 0, -1, 0.5, 0.5, 0.5};
  const double b[] = {10, -1};
  double y[4];
  vae::linear_forward(y, x, w, b, 2, 3, 2);
  EXPECT_DOUBLE_EQ(y[0], 1 - 3 + 10);
  EXPECT_DOUBLE_EQ(y[1], 3 - 1);
  EXPECT_DOUBLE_EQ(y[2], 4 - 6 + 10);
  EXPECT_DOUBLE_EQ(y[3], 7.5 - 1);
}

TEST(Linear, BackwardMatchesFiniteDifferencesAndAccumulates) {
  const int B = 4, I = 5, O = 3;
  vae::Rng rng(1);
  std::vector<double> x(B * I), w(O * I), b(O), r(B * O), y(B * O);
  fill_uniform(x, rng);
  fill_uniform(w, rng);
  fill_uniform(b, rng);
  fill_uniform(r, rng);
  auto loss = [&] {
    vae::linear_forward(y.data(), x.data(), w.data(), b.data(), B, I, O);
    return dot(r, y.data());
  };
  loss();
  // Sentinel prefill: backward must add to what is there, not overwrite it.
  const double s = 0.25;
  std::vector<double> dx(B * I, s), dw(O * I, s), db(O, s);
  vae::linear_backward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), B, I, O);
  for (auto* g : {&dx, &dw, &db})
    for (double& v : *g) v -= s;
  check_gradient("dx", x.data(), dx.data(), x.size(), loss);
  check_gradient("dW", w.data(), dw.data(), w.size(), loss);
  check_gradient("db", b.data(), db.data(), b.size(), loss);
}

TEST(Linear, NullInputGradientIsAllowed) {
  const int B = 2, I = 3, O = 2;
  std::vector<double> x(B * I, 1.0), w(O * I, 0.5), dy(B * O, 1.0), dw(O * I, 0), db(O, 0);
  vae::linear_backward<double>(nullptr, dw.data(), db.data(), dy.data(), x.data(), w.data(), B, I, O);
  EXPECT_DOUBLE_EQ(dw[0], 2.0);  // Σ_r dy[r,0] x[r,0]
  EXPECT_DOUBLE_EQ(db[1], 2.0);
}

TEST(Linear, FloatAgreesWithDouble) {
  const int B = 7, I = 11, O = 5;
  vae::Rng rng(2);
  std::vector<double> x(B * I), w(O * I), b(O), y(B * O);
  fill_uniform(x, rng);
  fill_uniform(w, rng);
  fill_uniform(b, rng);
  std::vector<float> xf(x.begin(), x.end()), wf(w.begin(), w.end()), bf(b.begin(), b.end()), yf(B * O);
  vae::linear_forward(y.data(), x.data(), w.data(), b.data(), B, I, O);
  vae::linear_forward(yf.data(), xf.data(), wf.data(), bf.data(), B, I, O);
  for (int i = 0; i < B * O; ++i) EXPECT_NEAR(yf[i], y[i], 1e-5);
}

}  // namespace
