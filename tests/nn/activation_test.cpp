// Activations: values at known points, derivatives against finite differences away from the
// kink at 0 (the check would straddle it), and the accumulate rule.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "vae/error.h"
#include "vae/nn.h"

namespace {

using vae::Activation;

TEST(Activation, KnownValues) {
  const double a[] = {-2.0, 0.0, 1.5};
  double y[3];
  vae::activation_forward(y, a, 3, Activation::Relu);
  EXPECT_EQ(y[0], 0.0);
  EXPECT_EQ(y[1], 0.0);
  EXPECT_EQ(y[2], 1.5);
  vae::activation_forward(y, a, 3, Activation::LeakyRelu);
  EXPECT_DOUBLE_EQ(y[0], -0.02);
  EXPECT_EQ(y[2], 1.5);
  vae::activation_forward(y, a, 3, Activation::Elu);
  EXPECT_DOUBLE_EQ(y[0], std::exp(-2.0) - 1);
  EXPECT_EQ(y[1], 0.0);
  vae::activation_forward(y, a, 3, Activation::Tanh);
  EXPECT_DOUBLE_EQ(y[2], std::tanh(1.5));
}

TEST(Activation, ParseNamesAndRejectsUnknown) {
  for (const char* name : {"relu", "tanh", "leaky_relu", "elu"})
    EXPECT_STREQ(vae::activation_name(vae::parse_activation(name)), name);
  try {
    vae::parse_activation("sigmoidal");
    ADD_FAILURE() << "parsed 'sigmoidal'";
  } catch (const vae::FieldError& e) {  // the field, never a flag
    EXPECT_EQ(std::string(e.what()),
              "activation: unknown activation 'sigmoidal' (choose relu, tanh, leaky_relu, elu)");
  }
}

class ActivationGrad : public ::testing::TestWithParam<Activation> {};

TEST_P(ActivationGrad, BackwardMatchesFiniteDifferencesAndAccumulates) {
  const Activation act = GetParam();
  const size_t n = 40;
  vae::Rng rng(3);
  std::vector<double> a(n), r(n), y(n);
  vae_test::fill_uniform(a, rng, -2, 2);
  for (double& v : a)
    if (std::fabs(v) < 0.05) v = 0.3;  // keep h-steps on one side of the kink
  vae_test::fill_uniform(r, rng);
  auto loss = [&] {
    vae::activation_forward(y.data(), a.data(), n, act);
    return vae_test::dot(r, y.data());
  };
  loss();
  std::vector<double> da(n, 1.0);  // sentinel
  vae::activation_backward(da.data(), r.data(), a.data(), y.data(), n, act);
  for (double& v : da) v -= 1.0;
  vae_test::check_gradient(vae::activation_name(act), a.data(), da.data(), n, loss);
}

INSTANTIATE_TEST_SUITE_P(All, ActivationGrad,
                         ::testing::Values(Activation::Relu, Activation::Tanh,
                                           Activation::LeakyRelu, Activation::Elu),
                         [](const auto& info) { return std::string(vae::activation_name(info.param)); });

TEST(Activation, ReluKinkTakesZeroDerivative) {
  const double a = 0.0, y = 0.0, dy = 1.0;
  double da = 0.0;
  vae::activation_backward(&da, &dy, &a, &y, 1, Activation::Relu);
  EXPECT_EQ(da, 0.0);
}

}  // namespace
