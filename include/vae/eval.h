// Evaluation of a trained model on a data set.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

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
  double kl = 0;     ///< KL(q(z|x) ‖ N(0, I)), exact; with the VampPrior log q − log p at the z drawn
  size_t n = 0;
  std::vector<float> recon_rows, kl_rows;  ///< (N) each, when asked for
};

/// Importance-weighted estimate of log p(x) (Burda et al., 2016), per example:
///   log p(x) ≥ log (1/K) Σ_k w_k,   w_k = p(x|z_k) p(z_k) / q(z_k|x),   z_k = μ + σ ⊙ ε_k
///   log w_k = log p(x|z_k) − ½‖z_k‖² + ½‖ε_k‖² + ½ Σ_j log σ²_j    (the ½ log 2π terms cancel)
/// for the standard prior; any other (the VampPrior) puts its own log p(z_k) (Vae::log_prior):
///   log w_k = log p(x|z_k) + log p(z_k) + ½ Z log 2π + ½‖ε_k‖² + ½ Σ_j log σ²_j
/// A hierarchical model (ModelConfig::top_latent > 0) draws each sample through both layers and
/// takes its weight from the model (Vae::forward_iw, src/model/hierarchy.h):
///   log w_k = log p(x|z1_k, z2_k) + log p(z1_k|z2_k) + log p(z2_k) − log q(z1_k|x, z2_k) − log q(z2_k|x)
/// The bound tightens as K grows and equals the ELBO in expectation at K = 1. The sum over k is a
/// log-sum-exp accumulated in double across chunks of samples.
struct IwResult {
  int k = 0;
  size_t n = 0;
  double log_likelihood = 0;  ///< mean over examples of the estimate, nats (higher is better)
  double std_error = 0;       ///< standard error of that mean across examples
  std::vector<double> per_example;  ///< (N) estimates of log p(x_i)
};

/// Runs the K decodes of many examples as one batch of up to `rows` latent rows per decoder
/// pass (large GEMMs), on num_threads() workers that each take a contiguous range of examples
/// (BLAS single-threaded inside each). Example i's ε come from its own stream of Rng seeded from
/// (seed, i), so the estimate is the same for any worker count and any `rows`.
/// progress(done, total) is called from one worker's thread with examples finished.
/// over_ranks: in an MPI job (`mpirun ... vae eval`), a collective call: rank r of R scores
/// examples [N·r/R, N·(r+1)/R) and every rank receives the others' estimates, which depend on
/// their example alone, so every rank returns the figures of one process. Ignored without a job.
IwResult evaluate_iw(const Vae<float>& model, const Dataset& data, int k, uint64_t seed = kEvalSeed,
                     const std::function<void(size_t, size_t)>& progress = {}, int rows = 4096,
                     bool over_ranks = false);

/// −ELBO over every row of `data` with one z sample per example (ε from Rng(seed)), in batches
/// of model.max_batch(). With per_example, also fills recon_rows and kl_rows.
/// over_ranks: in an MPI job (`mpirun ... vae eval`), a collective call: each rank runs its
/// block of whole batches (ε still drawn for every batch, so each batch gets the ones it gets
/// in one process) and every rank receives the others' sums and rows, then adds the batches' sums
/// in batch order: every rank returns the figures of one process. Ignored without a job.
ElboResult evaluate_elbo(Vae<float>& model, const Dataset& data, uint64_t seed = kEvalSeed,
                         bool per_example = false, bool over_ranks = false);

/// Reconstruction error of the posterior mean: x̂ = decoder mean at z = μ(x).
struct ReconError {
  double mse = 0;               ///< mean over examples and dimensions of (x − x̂)²
  std::vector<float> mse_rows;  ///< (N) per-example mean squared error
};
/// over_ranks: as evaluate_elbo's, the rows' errors summed in row order on every rank.
ReconError reconstruction_error(Vae<float>& model, const Dataset& data, bool over_ranks = false);

/// Peak signal-to-noise ratio in dB for values in [0, 1]: 10 log10(1 / mse).
double psnr_db(double mse);

}  // namespace vae
