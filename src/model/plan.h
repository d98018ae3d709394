// The layer plan of a model: every layer's input and output geometry, fixed once from the
// ModelConfig and shared by param_table and the Vae constructor. Each layer's own checks and
// shapes come from its kind (src/nn/layers/); the plan adds what concerns a stack: where the
// one-hot of a conditional model enters, the heads, and the decoder's output.
#pragma once

#include <vector>

#include "vae/model.h"

namespace vae {

struct ModelPlan {
  std::vector<PlannedLayer> encoder, decoder;  ///< decoder.back() is the output layer
  /// The dense μ and log σ² heads ("encoder.mu", "encoder.logvar"): F features in (F = the
  /// encoder's output, or D without one), Z out; the one-hot is appended to their input when no
  /// encoder layer took it.
  PlannedLayer mu_head, logvar_head;
  /// A hierarchical model (top_latent > 0; src/model/hierarchy.h): the heads above give Z₂
  /// values; these stacks repeat the encoder's layers, with parameters of their own, each with
  /// dense μ and log σ² heads of Z₁ values. The encoder's layers split at s, the first index from
  /// which they all read flat input (0 for an MLP): q1_x repeats layers 0..s−1 on x (the
  /// convolutions of a conv encoder, "encoder_z1.0"…), giving features f (F values; f = x, F = D
  /// when s = 0); q1 repeats layers s.. on [f, z₂] (F + Z₂ flat values), p1 on z₂
  /// ("prior_z1.s"…). Empty else.
  std::vector<PlannedLayer> q1_x, q1, p1;
  PlannedLayer q1_mu, q1_logvar, p1_mu, p1_logvar;
};

/// Throws vae::FieldError naming the field ("decoder[3].kernel: ...", "decoder: gives ...")
/// when the stacks do not fit the data or each other.
ModelPlan plan_model(const ModelConfig& cfg);

}  // namespace vae
