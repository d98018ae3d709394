// What the likelihood tests share: a tiny table model of each kind, its decoder's raw output and
// mean for the same codes, and one-column data holding a given value.
#pragma once

#include <cstddef>
#include <vector>

#include "vae/dataset.h"
#include "vae/model.h"
#include "vae/rng.h"

namespace likelihood_test {

/// 6-5-3 tanh MLP over 6 values per row, σ = 0.7 where the kind has a fixed scale.
inline vae::ModelConfig tiny_model(vae::Likelihood kind) {
  vae::ModelConfig c;
  c.likelihood = kind;
  c.sigma = 0.7;
  c.input_dim = 6;
  c.hidden = {5};
  c.latent = 3;
  c.activation = vae::Activation::Tanh;
  c.height = c.width = c.channels = 0;
  return c;
}

struct Decoded {
  std::vector<double> out;   ///< (n, D) decode_logits: the likelihood's parameters
  std::vector<double> mean;  ///< (n, D) decode: the decoder mean
};

/// Both decoder outputs of tiny_model(kind) for n codes z ~ N(0, I).
inline Decoded decode_both(vae::Likelihood kind, int n) {
  const vae::ModelConfig cfg = tiny_model(kind);
  vae::Vae<double> model(cfg, n);
  vae::Rng rng(5);
  model.init_params(rng);
  std::vector<double> z(static_cast<size_t>(n) * cfg.latent);
  rng.normal_fill(z.data(), z.size());
  Decoded d;
  d.mean.resize(static_cast<size_t>(n) * cfg.input_dim);
  model.decode(z.data(), n, d.mean.data());
  const double* out = model.decode_logits(z.data(), n);
  d.out.assign(out, out + d.mean.size());
  return d;
}

/// Two rows of two values, all 0.5 except row 1, column 1 = v.
inline vae::Dataset data_holding(float v) {
  vae::Dataset d;
  d.n = 2;
  d.d = 2;
  d.x = {0.5f, 0.5f, 0.5f, v};
  return d;
}

}  // namespace likelihood_test
