// The Gaussian likelihood with a learned standard deviation per data dimension (--sigma
// learned): its own parameter s = log σ, "decoder.logsigma" (D), shared by all rows and
// initialised to 0 (σ = 1); the decoder gives the mean m (B,D) and
//   −log N(x; m, e^{2s}) = ½ (x − m)² e^{−2s} + s + ½ log 2π   per dimension.
// Decoder mean m itself; any real data (tables are standardised by --scale auto). Its JSON is
// "likelihood": "gaussian" with "learn_sigma": true in checkpoints and "sigma": "learned" in
// model descriptions. The math: gaussian_learned_nll_forward / _backward in src/model/losses.h.
#pragma once

#include "model/likelihoods/likelihoods.h"

namespace vae {

/// The table's row for Likelihood::GaussianLearnedSigma: "gaussian (learned sigma)".
LikelihoodRow gaussian_learned_sigma_likelihood();

}  // namespace vae
