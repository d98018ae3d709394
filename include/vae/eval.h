// Evaluation of a trained model on a data set.
#pragma once

#include <cstdint>

#include "vae/dataset.h"
#include "vae/model.h"

namespace vae {

/// Fixed seed for the ε of evaluation passes: the reported test loss of a given model is
/// reproducible, and evaluation never touches the training RNG.
inline constexpr uint64_t kEvalSeed = 0xe7a1ull;

/// Means over examples, in nats per example.
struct ElboResult {
  double loss = 0;   ///< −ELBO = recon + kl
  double recon = 0;  ///< E_q[−log p(x|z)], one-sample estimate
  double kl = 0;     ///< KL(q(z|x) ‖ N(0, I)), exact
  size_t n = 0;
};

/// −ELBO over every row of `data` with one z sample per example (ε from Rng(seed)), in batches
/// of model.max_batch().
ElboResult evaluate_elbo(Vae<float>& model, const Dataset& data, uint64_t seed = kEvalSeed);

}  // namespace vae
