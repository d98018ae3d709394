// Adam: one and two steps computed by hand (PyTorch's formulation).
#include "optim/adam.h"

#include <gtest/gtest.h>

#include <cmath>

TEST(Adam, OneStepByHand) {
  // t = 1, g = 0.5: m = 0.05, v = 0.00025; bc1 = 0.1, bc2 = 0.001
  // θ ← θ − (lr / bc1) · m / (√v / √bc2 + ε) = 1 − 0.01 · 0.05 / (0.5 + 1e-8)
  vae::Adam<double> adam(1, vae::AdamConfig{1e-3});
  double theta = 1.0;
  const double g = 0.5;
  adam.step(&theta, &g);
  EXPECT_NEAR(theta, 1.0 - 0.01 * 0.05 / (0.5 + 1e-8), 1e-15);
  EXPECT_NEAR(theta, 1.0 - 1e-3, 1e-10);  // the first step has size ≈ lr whatever g is
  EXPECT_EQ(adam.steps(), 1);
}

TEST(Adam, TwoStepsByHand) {
  // Step 1: g = 0.5 as above. Step 2: g = −1:
  //   m = 0.9·0.05 − 0.1 = −0.055;  v = 0.999·0.00025 + 0.001 = 0.00124975
  //   bc1 = 1 − 0.81 = 0.19;  bc2 = 1 − 0.998001 = 0.001999
  //   θ₂ = θ₁ − (1e-3/0.19) · (−0.055) / (√0.00124975 / √0.001999 + 1e-8)
  vae::Adam<double> adam(2, vae::AdamConfig{1e-3});
  double theta[2] = {1.0, -2.0};
  const double g1[2] = {0.5, 0.0}, g2[2] = {-1.0, 0.0};
  adam.step(theta, g1);
  const double theta1 = theta[0];
  adam.step(theta, g2);
  const double expected = theta1 - (1e-3 / 0.19) * (-0.055) / (std::sqrt(0.00124975) / std::sqrt(0.001999) + 1e-8);
  EXPECT_NEAR(theta[0], expected, 1e-14);
  EXPECT_NEAR(adam.m()[0], -0.055, 1e-15);
  EXPECT_NEAR(adam.v()[0], 0.00124975, 1e-15);
  EXPECT_EQ(theta[1], -2.0);  // zero gradient, zero moments: no movement
}

TEST(Adam, FloatMatchesDouble) {
  vae::Adam<float> af(3, vae::AdamConfig{1e-2});
  vae::Adam<double> ad(3, vae::AdamConfig{1e-2});
  float tf[3] = {0.1f, 0.2f, 0.3f};
  double td[3] = {0.1, 0.2, 0.3};
  for (int s = 0; s < 20; ++s) {
    const double gd[3] = {std::sin(s * 1.0), std::cos(s * 0.5), 1e-3 * s};
    const float gf[3] = {float(gd[0]), float(gd[1]), float(gd[2])};
    af.step(tf, gf);
    ad.step(td, gd);
  }
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(tf[i], td[i], 1e-5);
}

TEST(AdamW, OneStepByHandDecaysFirstThenTheAdamUpdate) {
  // lr = 0.1, λ = 0.01, t = 1, g = 0.5: m = 0.05, v = 0.00025, bc1 = 0.1, bc2 = 0.001
  //   θ ← θ·(1 − lr·λ) − (lr / bc1) · m / (√v / √bc2 + ε)
  //     = 1·0.999 − 1 · 0.05 / (0.5 + 1e-8) = 0.899000002 (to 1e-12)
  vae::AdamConfig cfg;
  cfg.lr = 0.1;
  cfg.weight_decay = 0.01;
  vae::Adam<double> adam(2, cfg);
  double theta[2] = {1.0, -2.0};
  const double g[2] = {0.5, 0.0};
  adam.step(theta, g);
  EXPECT_NEAR(theta[0], 0.899000002, 1e-12);
  EXPECT_NEAR(theta[0], 0.999 - 0.05 / (0.5 + 1e-8), 1e-15);
  // A parameter without gradient only decays: −2 · 0.999.
  EXPECT_NEAR(theta[1], -1.998, 1e-15);
  // The fused data-parallel update applies the same rule.
  vae::Adam<double> fused(2, cfg);
  double theta2[2] = {1.0, -2.0};
  double part[2] = {0.5, 0.0};
  double* parts[1] = {part};
  const double weights[1] = {1.0};
  fused.begin_step();
  fused.update_reduced(theta2, parts, weights, 1, 0, 2);
  EXPECT_EQ(theta2[0], theta[0]);
  EXPECT_EQ(theta2[1], theta[1]);
}

TEST(AdamW, NoDecayIsPlainAdamBitForBit) {
  vae::AdamConfig with;
  with.weight_decay = 0.0;
  vae::Adam<float> a(1, vae::AdamConfig{1e-3}), b(1, with);
  float ta = 0.3f, tb = 0.3f;
  for (int s = 0; s < 5; ++s) {
    const float g = 0.1f * static_cast<float>(s) - 0.2f;
    a.step(&ta, &g);
    b.step(&tb, &g);
  }
  EXPECT_EQ(ta, tb);
}
