// The dense layer kind: a fully connected layer, torch.nn.Linear.
//
//   JSON      {"type": "dense", "units": O}                        describe()  "d256"
//   shape     input (C, H, W) read flat, as torch.flatten(x, 1): I = C·H·W values (+ Y for the
//             one-hot of a conditional model, appended to the first dense layer's input);
//             output (O, 1, 1), a flat row; 1 ≤ O ≤ 65536
//   params    <name>.weight (O, I + Y), <name>.bias (O)
//   math      y = x Wᵀ + b (include/vae/nn.h: linear_forward, linear_backward)
//
// The encoder's μ and log σ² heads are dense layers too ("encoder.mu", "encoder.logvar").
#pragma once

#include "nn/layers/layer.h"

namespace vae {

extern const LayerKind kDenseKind;

/// A dense layer of `units` outputs.
LayerSpec dense_layer(int units);

/// The dense row's read, write and plan, shared with the kinds that read `units` and flatten
/// their input as dense does (gated_dense).
void dense_read(LayerSpec& s, const nlohmann::json& j, const std::string& at);
void dense_write(const LayerSpec& s, nlohmann::json& j);
bool dense_plan(PlannedLayer& l, bool image, const std::string& at);

}  // namespace vae
