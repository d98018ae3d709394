// Per-dimension posterior statistics on a model whose encodings are known in closed form.
#include "eval/latent_stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace {

// A linear encoder (no hidden layers) over D = 2 inputs and Z = 3 latents:
//   μ_0 = 2·x_0 (varies with x), μ_1 = 0.5 (constant), μ_2 = 0; log σ² = (0, −1, 1) for all x.
vae::Vae<float> known_encoder() {
  vae::ModelConfig cfg;
  cfg.input_dim = 2;
  cfg.hidden = {};
  cfg.latent = 3;
  cfg.height = cfg.width = cfg.channels = 0;
  vae::Vae<float> model(cfg, 4);
  float* P = model.params();
  for (const vae::ParamInfo& p : model.params_info()) {
    float* t = P + p.offset;
    for (size_t i = 0; i < p.numel; ++i) t[i] = 0;
    if (p.name == "encoder.mu.weight") t[0] = 2.0f;  // row 0, column 0
    if (p.name == "encoder.mu.bias") t[1] = 0.5f;
    if (p.name == "encoder.logvar.bias") {
      t[1] = -1.0f;
      t[2] = 1.0f;
    }
  }
  return model;
}

TEST(LatentStats, KlPerDimensionVarianceAndActiveUnits) {
  vae::Vae<float> model = known_encoder();
  vae::Dataset data;
  data.n = 6;  // more rows than max_batch (4): encoded in two chunks
  data.d = 2;
  data.x = {0.0f, 1, 0.1f, 1, 0.2f, 1, 0.3f, 1, 0.4f, 1, 0.5f, 1};
  const vae::LatentStats s = vae::latent_stats(model, data);
  // μ_0 = 2·x_0 over x_0 = 0, 0.1, …, 0.5: mean 0.5, population variance 4·Var(x_0) = 4·0.029167.
  EXPECT_NEAR(s.mu_mean[0], 0.5, 1e-6);
  EXPECT_NEAR(s.mu_variance[0], 4 * 0.0291666667, 1e-6);
  EXPECT_NEAR(s.mu_variance[1], 0.0, 1e-9);
  EXPECT_NEAR(s.mu_variance[2], 0.0, 1e-9);
  EXPECT_EQ(s.active_units, 1);
  // KL_j = ½(σ² + μ² − 1 − log σ²) averaged over examples.
  double kl0 = 0;
  for (int i = 0; i < 6; ++i) kl0 += 0.5 * (std::pow(2 * 0.1 * i, 2)) / 6;
  EXPECT_NEAR(s.kl_per_dim[0], kl0, 1e-6);
  EXPECT_NEAR(s.kl_per_dim[1], 0.5 * (std::exp(-1.0) + 0.25 - 1 + 1), 1e-6);
  EXPECT_NEAR(s.kl_per_dim[2], 0.5 * (std::exp(1.0) - 1 - 1), 1e-6);
}

}  // namespace
