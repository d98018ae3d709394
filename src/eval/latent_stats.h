// Per-dimension statistics of the approximate posterior over a data set: how much each latent
// dimension is used.
//
// Legend: N examples, Z latent size.
#pragma once

#include <vector>

#include "vae/dataset.h"
#include "vae/model.h"

namespace vae {

struct LatentStats {
  /// Mean over examples of KL(q(z_j|x) ‖ N(0,1)) = −½ (1 + log σ²_j − μ_j² − σ²_j), nats (Z).
  std::vector<double> kl_per_dim;
  /// Mean over examples of μ_j (Z).
  std::vector<double> mu_mean;
  /// Var over examples of μ_j = Cov_x(E_q[z_j]) (Z), the activity measure of Burda et al.
  std::vector<double> mu_variance;
  /// Number of dimensions with mu_variance > kActiveUnitThreshold.
  int active_units = 0;
};

/// Burda, Grosse & Salakhutdinov (2016): a unit is active when Cov_x(E_q[z_j]) > 0.01.
inline constexpr double kActiveUnitThreshold = 0.01;

/// Encodes every row of `data` (in batches of model.max_batch()) and summarises.
/// over_ranks: in an MPI job, a collective call: each rank encodes its block of whole batches
/// and receives the others' μ and log σ², so every rank returns the figures of one process
/// (vae/eval.h's evaluate_elbo has the scheme). Ignored without a job.
LatentStats latent_stats(Vae<float>& model, const Dataset& data, bool over_ranks = false);

}  // namespace vae
