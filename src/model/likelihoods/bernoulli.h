// The Bernoulli likelihood on logits: the decoder gives l (B,D) and
//   −log p(x|l) = −[x log σ(l) + (1−x) log(1−σ(l))] = softplus(l) − x·l   per dimension,
// valid for x in [0, 1] (grey levels read as probabilities, as in the literature). Decoder mean
// σ(l). No parameters of its own, no scale (--sigma is ignored); tables are scaled to [0, 1] by
// --scale auto. The math: bernoulli_nll_forward / _backward in src/model/losses.h.
#pragma once

#include "model/likelihoods/likelihoods.h"

namespace vae {

/// The table's row for Likelihood::Bernoulli: "bernoulli".
LikelihoodRow bernoulli_likelihood();

}  // namespace vae
