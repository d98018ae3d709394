#include "eval/latent_stats.h"

#include <algorithm>
#include <cmath>

#include "train/distributed.h"

namespace vae {

namespace {

// Adds rows' KL per dimension, μ and μ² to the running sums, row by row (the order every
// process keeps, split or not).
void add_rows(const float* mu, const float* logvar, size_t rows, size_t Z, LatentStats* s,
              std::vector<double>* sum_sq) {
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < Z; ++j) {
      const double m = mu[r * Z + j], lv = logvar[r * Z + j];
      s->kl_per_dim[j] += -0.5 * (1.0 + lv - m * m - std::exp(lv));
      s->mu_mean[j] += m;
      (*sum_sq)[j] += m * m;
    }
}

}  // namespace

// One process encodes chunk by chunk and adds each as it comes. Split over ranks, rank r
// encodes its chunks' rows into room for all N; every row's μ and log σ² is then on every
// rank, which adds them in row order as one process does.
LatentStats latent_stats(Vae<float>& model, const Dataset& data, bool over_ranks) {
  const size_t Z = model.config().latent;
  const size_t chunk = static_cast<size_t>(model.max_batch());
  LatentStats s;
  s.kl_per_dim.assign(Z, 0.0);
  s.mu_mean.assign(Z, 0.0);
  s.mu_variance.assign(Z, 0.0);
  if (data.n == 0) return s;
  std::vector<double> sum_sq(Z, 0.0);
  const bool split = over_ranks && world_size() > 1;
  const ItemRange mine = own_items(data.n, chunk, split);
  const size_t held = split ? data.n : chunk;
  std::vector<float> mu(held * Z), logvar(held * Z);  // (N, Z) split, else (chunk, Z)
  for (size_t start = mine.lo; start < mine.hi; start += chunk) {
    const size_t B = std::min(chunk, data.n - start);
    const size_t at = split ? start * Z : 0;
    model.encode(data.row(start), B, mu.data() + at, logvar.data() + at, data.label_ptr(start));
    if (!split) add_rows(mu.data(), logvar.data(), B, Z, &s, &sum_sq);
  }
  if (split) {
    share_rank_items(mu.data(), data.n, chunk, Z * sizeof(float));
    share_rank_items(logvar.data(), data.n, chunk, Z * sizeof(float));
    add_rows(mu.data(), logvar.data(), data.n, Z, &s, &sum_sq);
  }
  const double n = static_cast<double>(data.n);
  for (size_t j = 0; j < Z; ++j) {
    s.kl_per_dim[j] /= n;
    s.mu_mean[j] /= n;
    // Var = E[μ²] − E[μ]², clamped at 0 against rounding.
    s.mu_variance[j] = std::max(0.0, sum_sq[j] / n - s.mu_mean[j] * s.mu_mean[j]);
    if (s.mu_variance[j] > kActiveUnitThreshold) ++s.active_units;
  }
  return s;
}

}  // namespace vae
