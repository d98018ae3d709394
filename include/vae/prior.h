// The prior p(z) over the latent space (include/vae/model.h). Each kind is one row of the prior
// table (src/model/priors/priors.h), built by its own file pair under src/model/priors/.
//
//   kind      JSON / flags                         p(z)                                  parameters
//   Standard  "standard" (checkpoints:             N(0, I)                               none
//             "standard_normal")
//   Vamp      "vamp", "pseudo_inputs": K           (1/K) Σ_k q(z | u_k), the encoder's   "prior.pseudo_inputs"
//             (--prior vamp --pseudo-inputs K)     posteriors at K learned pseudo-inputs (K, D)
//                                                  (Tomczak & Welling 2018)
#pragma once

#include <string>

namespace vae {

enum class Prior {
  Standard,  ///< N(0, I)
  Vamp,      ///< the VampPrior: a mixture of the encoder's posteriors at learned pseudo-inputs
};

/// The word that names the prior in a model description and on the command line (--prior):
/// "standard" or "vamp".
const char* prior_name(Prior kind);
/// The prior the word names ("standard", or "standard_normal" as checkpoints write it, "vamp");
/// throws FieldError("prior", …) for any other word.
Prior parse_prior(const std::string& name);

/// ModelConfig::pseudo_inputs' range (the paper's K is 500).
inline constexpr int kMaxPseudoInputs = 10000;

}  // namespace vae
