// The likelihood p(x | out) that scores the data x against the decoder's output `out`, and its
// reconstruction term −log p(x | out) in the loss (include/vae/model.h). Each kind is one file
// pair under src/model/likelihoods/ holding everything about it — its JSON words, description,
// own parameters, forward and backward, decoder mean, the data it accepts and the table scaling
// "auto" picks for it — reached through one table (src/model/likelihoods/likelihoods.h).
//
//   kind                  JSON / flags                       out            decoder mean
//   Bernoulli             "bernoulli"                        logits l       σ(l)
//   Gaussian              "gaussian", "sigma": S             the mean m     m
//   GaussianLearnedSigma  "gaussian", "sigma": "learned"     the mean m     m
//                         (checkpoint JSON: "learn_sigma": true; parameter "decoder.logsigma" (D))
#pragma once

namespace vae {

enum class Likelihood {
  Bernoulli,             ///< x in [0, 1]; the decoder gives logits
  Gaussian,              ///< N(x; m, σ²) with the fixed σ = ModelConfig::sigma
  GaussianLearnedSigma,  ///< N(x; m, σ_j²) with one learned log σ_j per data dimension
};

/// What ModelConfig::sigma (the "sigma" key, --sigma) means to a likelihood.
enum class SigmaRole {
  None,     ///< nothing: the likelihood has no scale
  Fixed,    ///< its fixed scale
  Learned,  ///< nothing: the likelihood learns its scale ("sigma": "learned")
};

/// The word that names the likelihood in JSON ("likelihood") and on the command line
/// (--likelihood): "bernoulli", "gaussian" (both Gaussian kinds).
const char* likelihood_kind_name(Likelihood kind);
/// "bernoulli", "gaussian" or "gaussian (learned sigma)": what final.json, eval and info print.
const char* likelihood_description(Likelihood kind);
SigmaRole sigma_role(Likelihood kind);

}  // namespace vae
