// Building model layer lists in tests: one LayerSpec per call, and a model of such lists.
#pragma once

#include <utility>
#include <vector>

#include "vae/model.h"

namespace vae_test {

/// A dense (units), conv or conv_transpose (channels = units) layer.
inline vae::LayerSpec layer(vae::LayerSpec::Kind kind, int units, int kernel = 0, int stride = 1,
                            int padding = 0) {
  vae::LayerSpec s;
  s.kind = kind;
  s.units = units;
  s.kernel = kernel;
  s.stride = stride;
  s.padding = padding;
  return s;
}

/// A reshape to (c, h, w).
inline vae::LayerSpec reshape(int c, int h, int w) {
  vae::LayerSpec s;
  s.kind = vae::LayerSpec::Kind::Reshape;
  s.shape[0] = c;
  s.shape[1] = h;
  s.shape[2] = w;
  return s;
}

/// A model of custom layer lists on 1×side×side images with `latent` dimensions.
inline vae::ModelConfig custom_config(int side, int latent, vae::Activation activation,
                                      std::vector<vae::LayerSpec> encoder,
                                      std::vector<vae::LayerSpec> decoder) {
  vae::ModelConfig c;
  c.input_dim = side * side;
  c.height = c.width = side;
  c.channels = 1;
  c.latent = latent;
  c.activation = activation;
  c.arch = "custom";
  c.hidden.clear();
  c.encoder = std::move(encoder);
  c.decoder = std::move(decoder);
  return c;
}

}  // namespace vae_test
