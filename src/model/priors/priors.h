// The table of priors: one row per Prior kind, each built by its own file pair in this folder
// (standard, vamp), holding everything about that kind. The model, the config's JSON and the
// command reach a prior only through its row.
//
// Legend: K pseudo-inputs (ModelConfig::pseudo_inputs), D data size, Z latent size.
//
// A prior whose row has pseudo_inputs is the encoder's own mixture (model/priors/vamp.h): its
// parameters are K learned inputs u (K, D), stored after the decoder's parameters as
// "prior.pseudo_inputs"; the model runs its encoder on them to get the components' μ_k and
// log σ²_k (K, Z) and evaluates log p(z) with vamp_log_prior_forward. A prior without them is
// N(0, I), whose KL term has the closed form of src/model/losses.h.
//
// The model reaches a prior's math through its latent structure (src/model/latent.h): each file
// pair here also returns the row of the latent table whose structure holds the model's calls for
// that prior (its KL term, the IW rows' log q − log p, log p(z), sampling, its own pass).
//
// Adding a prior: a new Prior value (include/vae/prior.h); a file pair here whose functions
// return its prior row and its latent row (a LatentStructure subclass with its math beside it);
// the first in the prior table (priors.cpp), the second in the latent table (latent.cpp); its
// parameters, if any, in prior_params and prior_init_params; and its tests (tests/model/priors/:
// a double-precision gradient check of its KL term and an exact log p(x) where one exists).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "vae/prior.h"

namespace vae {

struct ModelConfig;
class Rng;

struct PriorRow {
  Prior kind = Prior::Standard;
  const char* name = "";         ///< the description's "prior" word, the --prior word
  const char* json_name = "";    ///< the checkpoint model JSON's "prior" value
  const char* description = "";  ///< what info and report print
  bool pseudo_inputs = false;    ///< its parameters are the K pseudo-inputs (K, D)
};

/// Every row, in Prior order.
const std::vector<PriorRow>& prior_table();
const PriorRow& prior_row(Prior kind);

/// The name of the pseudo-inputs' parameter tensor.
inline constexpr const char* kPseudoInputsParam = "prior.pseudo_inputs";

/// The prior's own parameter tensors as (name, shape), in the order of the flat buffer.
std::vector<std::pair<std::string, std::vector<int64_t>>> prior_params(const ModelConfig& cfg);

/// Sets the prior's own parameters theta to their initial values: pseudo-inputs
/// u_kd ~ N(0.05, 0.01²), the initialisation of Tomczak & Welling's code (dim grey images, inside
/// the [0, 1] range of binary and scaled image data). Nothing for a prior without parameters.
template <class T>
void prior_init_params(const ModelConfig& cfg, T* theta, Rng& rng);

// ---- JSON forms -----------------------------------------------------------------------------
/// Checkpoint model JSON: "prior" (the row's json_name) and, for pseudo-input priors,
/// "pseudo_inputs".
void prior_to_json(nlohmann::json& j, const ModelConfig& cfg);
/// Reads what prior_to_json wrote ("prior" absent: standard; "pseudo_inputs" absent: 500).
void prior_from_json(const nlohmann::json& j, ModelConfig& cfg);
/// A model description (--config file): "prior" and "pseudo_inputs", written only when the
/// prior is not the standard one.
void prior_to_description(nlohmann::json& j, const ModelConfig& cfg);
/// Reads a description's optional "prior" and "pseudo_inputs" over cfg's. Throws vae::Error
/// "<field>: …".
void prior_from_description(const nlohmann::json& j, ModelConfig& cfg);

/// ModelConfig::validate's part: the kind a row of the table, K in 1..kMaxPseudoInputs, and no
/// pseudo-input prior on a conditional model (its components would need a label). Throws
/// FieldError("prior" | "pseudo_inputs", …).
void validate_prior(const ModelConfig& cfg);

/// What training with the prior excludes: free bits (a floor on each dimension's closed-form
/// KL) need the standard prior and one stochastic layer. Throws FieldError("free_bits", …).
void check_prior_training(const ModelConfig& cfg, double free_bits);

}  // namespace vae
