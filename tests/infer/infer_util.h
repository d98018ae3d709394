// Small checkpoints for the inference tests: a 12-value MLP with random weights, optionally
// conditional and with a standardising scaler, built in memory (no training).
#pragma once

#include <vector>

#include "vae/checkpoint.h"
#include "vae/model.h"
#include "vae/rng.h"

namespace vae_test {

inline vae::Checkpoint infer_checkpoint(int num_classes = 0, bool standardize = false) {
  vae::Checkpoint c;
  c.model.input_dim = 12;
  c.model.height = 3;
  c.model.width = 4;
  c.model.channels = 1;
  c.model.hidden = {9, 7};
  c.model.latent = 4;
  c.model.activation = vae::Activation::Tanh;
  c.model.num_classes = num_classes;
  if (standardize) c.model.likelihood = vae::Likelihood::Gaussian;
  vae::Vae<float> model(c.model, 1);
  vae::Rng rng(11);
  model.init_params(rng);
  c.params.assign(model.params(), model.params() + model.num_params());
  if (standardize) {
    c.scaler.kind = vae::ScalerKind::Standardize;
    for (int j = 0; j < c.model.input_dim; ++j) {
      c.scaler.offset.push_back(10.0f * j - 30.0f);  // column means
      c.scaler.factor.push_back(1.0f / (0.5f + j));  // 1 / column standard deviations
    }
  }
  return c;
}

/// n rows of D values: raw table values around the scaler's means, or pixels in [0, 1].
inline std::vector<float> infer_rows(size_t n, size_t D, bool raw, uint64_t seed = 5) {
  vae::Rng rng(seed);
  std::vector<float> x(n * D);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < D; ++j)
      x[i * D + j] =
          raw ? 10.0f * j - 30.0f + (0.5f + j) * static_cast<float>(rng.uniform() * 4 - 2)
              : static_cast<float>(rng.uniform());
  return x;
}

}  // namespace vae_test
