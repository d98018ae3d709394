// The layer plan of a model: every layer's input and output geometry, fixed once from the
// ModelConfig (src/model/config.cpp) and shared by param_table and the Vae constructor.
#pragma once

#include <string>
#include <vector>

#include "vae/model.h"

namespace vae {

struct PlannedLayer {
  LayerSpec spec;
  std::string name;  ///< parameter prefix: "encoder.0", "decoder.3", "decoder.out"
  int in_c = 0, in_h = 1, in_w = 1;    ///< dense: in_c features (flattened input), h = w = 1
  int out_c = 0, out_h = 1, out_w = 1;
  int cond = 0;      ///< one-hot width appended to this (dense) layer's input
  bool act = true;   ///< false for the decoder's output layer
};

struct ModelPlan {
  std::vector<PlannedLayer> encoder, decoder;  ///< decoder.back() is the output layer
  int features = 0;   ///< F: values per example the heads read (before any one-hot)
  int head_cond = 0;  ///< one-hot width appended to the heads' input (no dense encoder layer)
};

/// Throws vae::Error naming the field ("decoder[3].kernel: ...") when the stacks do not fit.
ModelPlan plan_model(const ModelConfig& cfg);

}  // namespace vae
