// The gated dense layer kind: a fully connected layer whose output is gated by a second one, as
// the GatedDense layer of the VampPrior and Exemplar VAE models (Dauphin et al. 2017; Tomczak &
// Welling 2018).
//
//   JSON      {"type": "gated_dense", "units": O}                  describe()  "g300"
//   shape     as dense (nn/layers/dense.h): input (C, H, W) read flat, I = C·H·W values (+ Y
//             for the one-hot of a conditional model); output (O, 1, 1); 1 ≤ O ≤ 65536
//   params    <name>.weight (O, I + Y), <name>.bias (O), <name>.gate_weight (O, I + Y),
//             <name>.gate_bias (O) — two torch.nn.Linear layers, h then g
//   saved     a (rows, O) then s (rows, O): the two blocks forward keeps for backward
//   scratch   2·rows·O: da then dg, during backward only
//   math      a = x Wᵀ + b,   g = x Gᵀ + c,   s = σ(g),   y = a ⊙ s
//             da = dy ⊙ s,    dg = dy ⊙ a ⊙ s ⊙ (1 − s)   (σ' = σ(1 − σ))
//             dx += da W + dg G,  dW += daᵀ x,  db += Σ da,  dG += dgᵀ x,  dc += Σ dg
//             (linear_forward / linear_backward of include/vae/nn.h)
//
// The gate is the layer's nonlinearity: the model's activation does not follow a gated dense
// layer (LayerKind::self_activated), as in the published models.
#pragma once

#include "nn/layers/layer.h"

namespace vae {

extern const LayerKind kGatedDenseKind;

/// A gated dense layer of `units` outputs.
LayerSpec gated_dense_layer(int units);

}  // namespace vae
