#include "eval/latent_stats.h"

#include <algorithm>
#include <cmath>

#include "train/distributed.h"

namespace vae {

// Rank r encodes its chunks' rows; every row's μ and log σ² is then on every rank and the
// statistics are summed in row order, as one process sums them.
LatentStats latent_stats(Vae<float>& model, const Dataset& data, bool over_ranks) {
  const size_t Z = model.config().latent;
  const size_t chunk = static_cast<size_t>(model.max_batch());
  LatentStats s;
  s.kl_per_dim.assign(Z, 0.0);
  s.mu_mean.assign(Z, 0.0);
  s.mu_variance.assign(Z, 0.0);
  if (data.n == 0) return s;
  const ItemRange mine = own_items(data.n, chunk, over_ranks);
  std::vector<float> mu(data.n * Z), logvar(data.n * Z);  // (N, Z) each
  for (size_t start = mine.lo; start < mine.hi; start += chunk) {
    const size_t B = std::min(chunk, data.n - start);
    model.encode(data.row(start), B, mu.data() + start * Z, logvar.data() + start * Z,
                 data.label_ptr(start));
  }
  if (over_ranks) {
    share_rank_items(mu.data(), data.n, chunk, Z * sizeof(float));
    share_rank_items(logvar.data(), data.n, chunk, Z * sizeof(float));
  }
  std::vector<double> sum_sq(Z, 0.0);
  for (size_t r = 0; r < data.n; ++r)
    for (size_t j = 0; j < Z; ++j) {
      const double m = mu[r * Z + j], lv = logvar[r * Z + j];
      s.kl_per_dim[j] += -0.5 * (1.0 + lv - m * m - std::exp(lv));
      s.mu_mean[j] += m;
      sum_sq[j] += m * m;
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
