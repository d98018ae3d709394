#include <algorithm>
#include <cmath>
#include <vector>

#include "train/distributed.h"
#include "vae/eval.h"
#include "vae/rng.h"

namespace vae {

// Chunks of max_b rows; rank r runs the chunks rank_items gives it. Every rank draws every
// chunk's ε, so the stream stays in step and a chunk gets the same ε on any rank; the chunks'
// sums are then summed in chunk order on every rank: the figures of one process.
ElboResult evaluate_elbo(Vae<float>& model, const Dataset& data, uint64_t seed, bool per_example,
                         bool over_ranks) {
  Rng rng(seed);
  const int Z = model.config().latent;
  const size_t max_b = static_cast<size_t>(model.max_batch());
  const size_t chunks = (data.n + max_b - 1) / max_b;
  const ItemRange mine = own_items(data.n, max_b, over_ranks);
  std::vector<float> eps(max_b * Z);              // (B, Z)
  std::vector<double> chunk_sums(2 * chunks, 0);  // (chunks, 2): recon, kl
  ElboResult r;
  if (per_example) {
    r.recon_rows.resize(data.n);
    r.kl_rows.resize(data.n);
  }
  for (size_t c = 0; c < chunks; ++c) {
    const size_t start = c * max_b;
    const int B = static_cast<int>(std::min(max_b, data.n - start));
    rng.normal_fill(eps.data(), static_cast<size_t>(B) * Z);
    if (start < mine.lo || start >= mine.hi) continue;  // another rank's chunk
    const LossParts parts = model.forward(data.row(start), eps.data(), B, data.label_ptr(start));
    chunk_sums[2 * c] = parts.recon;
    chunk_sums[2 * c + 1] = parts.kl;
    if (per_example)
      model.loss_rows(data.row(start), B, r.recon_rows.data() + start, r.kl_rows.data() + start);
  }
  if (over_ranks) {
    share_rank_items(chunk_sums.data(), chunks, 1, 2 * sizeof(double));
    if (per_example) {
      share_rank_items(r.recon_rows.data(), data.n, max_b, sizeof(float));
      share_rank_items(r.kl_rows.data(), data.n, max_b, sizeof(float));
    }
  }
  double recon = 0, kl = 0;
  for (size_t c = 0; c < chunks; ++c) {
    recon += chunk_sums[2 * c];
    kl += chunk_sums[2 * c + 1];
  }
  r.n = data.n;
  if (data.n) {
    r.recon = recon / data.n;
    r.kl = kl / data.n;
    r.loss = r.recon + r.kl;
  }
  return r;
}

// Rank r encodes and decodes its chunks' rows; every row's squared error is then on every rank
// and summed in row order, as one process sums it.
ReconError reconstruction_error(Vae<float>& model, const Dataset& data, bool over_ranks) {
  const size_t Z = model.config().latent, D = model.config().input_dim;
  const size_t chunk = static_cast<size_t>(model.max_batch());
  const ItemRange mine = own_items(data.n, chunk, over_ranks);
  std::vector<float> mu(chunk * Z), logvar(chunk * Z), xhat(chunk * D);  // (chunk, ·)
  std::vector<double> row_se(data.n, 0.0);                               // (N) Σ_j (x − x̂)²
  ReconError e;
  e.mse_rows.resize(data.n);
  for (size_t start = mine.lo; start < mine.hi; start += chunk) {
    const size_t B = std::min(chunk, data.n - start);
    model.encode(data.row(start), B, mu.data(), logvar.data(), data.label_ptr(start));
    model.decode(mu.data(), B, xhat.data(), data.label_ptr(start));
    for (size_t r = 0; r < B; ++r) {
      const float* x = data.row(start + r);
      double se = 0;
      for (size_t j = 0; j < D; ++j) se += (x[j] - xhat[r * D + j]) * (x[j] - xhat[r * D + j]);
      e.mse_rows[start + r] = static_cast<float>(se / D);
      row_se[start + r] = se;
    }
  }
  if (over_ranks) {
    share_rank_items(row_se.data(), data.n, chunk, sizeof(double));
    share_rank_items(e.mse_rows.data(), data.n, chunk, sizeof(float));
  }
  double total = 0;
  for (double se : row_se) total += se;
  if (data.n) e.mse = total / (static_cast<double>(data.n) * D);
  return e;
}

double psnr_db(double mse) { return 10.0 * std::log10(1.0 / std::max(mse, 1e-20)); }

}  // namespace vae
