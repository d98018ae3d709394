// What the "bound rises with K" tests share: a small model trained briefly with Adam on the
// ELBO, then IW(1) < IW(10) < IW(100) on held-out examples, each step by more than 3 standard
// errors of the paired per-example differences.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "optim/adam.h"
#include "vae/eval.h"
#include "vae/model.h"

namespace vae_test {

/// A 16-8-Z tanh MLP on 4×4 images.
inline vae::ModelConfig small_image_config(int latent) {
  vae::ModelConfig cfg;
  cfg.input_dim = 16;
  cfg.height = cfg.width = 4;
  cfg.channels = 1;
  cfg.hidden = {8};
  cfg.latent = latent;
  cfg.activation = vae::Activation::Tanh;
  return cfg;
}

/// `steps` Adam steps (lr 1e-2) of B examples, cycling through train, ε from rng.
inline void train_briefly(vae::Vae<float>& model, const vae::Dataset& train, int B, int steps,
                          vae::Rng& rng) {
  vae::Adam<float> adam(model.num_params(), vae::AdamConfig{1e-2});
  std::vector<float> eps(static_cast<size_t>(B) * model.config().latent);  // (B, Z)
  for (int step = 0; step < steps; ++step) {
    const float* x = train.row(static_cast<size_t>(step) * B % train.n);
    rng.normal_fill(eps.data(), eps.size());
    model.zero_grad();
    model.forward(x, eps.data(), B);
    model.backward(x, B);
    adam.step(model.params(), model.grads());
  }
}

inline void expect_bound_rises(const vae::Vae<float>& model, const vae::Dataset& test,
                               uint64_t seed) {
  std::vector<std::vector<double>> iw;
  for (int k : {1, 10, 100}) iw.push_back(vae::evaluate_iw(model, test, k, seed).per_example);
  for (int s = 0; s < 2; ++s) {
    double mean = 0, sq = 0;
    for (size_t i = 0; i < test.n; ++i) {
      const double gain = iw[s + 1][i] - iw[s][i];
      mean += gain / test.n;
      sq += gain * gain / test.n;
    }
    const double se = std::sqrt(std::max(0.0, sq - mean * mean) / (test.n - 1));
    EXPECT_GT(mean, 3 * se) << "step " << s << ": mean gain " << mean << ", se " << se;
  }
}

}  // namespace vae_test
