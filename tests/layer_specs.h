// Building models of layer lists in tests: each kind's builder (vae::dense_layer,
// gated_dense_layer, conv_layer, conv_transpose_layer, reshape_layer from src/nn/layers/), a
// model of such lists, and the small MLP the model tests share.
#pragma once

#include <utility>
#include <vector>

#include "nn/layers/conv.h"
#include "nn/layers/conv_transpose.h"
#include "nn/layers/dense.h"
#include "nn/layers/gated_dense.h"
#include "nn/layers/reshape.h"
#include "vae/model.h"

namespace vae_test {

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
  c.arch = vae::Arch::Custom;
  c.hidden.clear();
  c.encoder = std::move(encoder);
  c.decoder = std::move(decoder);
  return c;
}

/// A small MLP on 2×3 "images" (D = 6, Z = 3) with `hidden` widths and a tanh activation, so no
/// finite-difference step crosses a kink.
inline vae::ModelConfig mlp_config(std::vector<int> hidden) {
  vae::ModelConfig c;
  c.input_dim = 6;
  c.height = 2;
  c.width = 3;
  c.channels = 1;
  c.hidden = std::move(hidden);
  c.latent = 3;
  c.activation = vae::Activation::Tanh;
  return c;
}

}  // namespace vae_test
