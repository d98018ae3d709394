#include <algorithm>
#include <cmath>
#include <vector>

#include "vae/eval.h"
#include "vae/rng.h"

namespace vae {

ElboResult evaluate_elbo(Vae<float>& model, const Dataset& data, uint64_t seed, bool per_example) {
  Rng rng(seed);
  const int Z = model.config().latent;
  const int max_b = model.max_batch();
  std::vector<float> eps(static_cast<size_t>(max_b) * Z);  // (B, Z)
  double recon = 0, kl = 0;
  ElboResult r;
  if (per_example) {
    r.recon_rows.resize(data.n);
    r.kl_rows.resize(data.n);
  }
  for (size_t start = 0; start < data.n; start += max_b) {
    const int B = static_cast<int>(std::min<size_t>(max_b, data.n - start));
    rng.normal_fill(eps.data(), static_cast<size_t>(B) * Z);
    const LossParts parts = model.forward(data.row(start), eps.data(), B, data.label_ptr(start));
    recon += parts.recon;
    kl += parts.kl;
    if (per_example)
      model.loss_rows(data.row(start), B, r.recon_rows.data() + start, r.kl_rows.data() + start);
  }
  r.n = data.n;
  if (data.n) {
    r.recon = recon / data.n;
    r.kl = kl / data.n;
    r.loss = r.recon + r.kl;
  }
  return r;
}

ReconError reconstruction_error(Vae<float>& model, const Dataset& data) {
  const size_t Z = model.config().latent, D = model.config().input_dim;
  const size_t chunk = static_cast<size_t>(model.max_batch());
  std::vector<float> mu(chunk * Z), logvar(chunk * Z), xhat(chunk * D);  // (chunk, ·)
  ReconError e;
  e.mse_rows.resize(data.n);
  double total = 0;
  for (size_t start = 0; start < data.n; start += chunk) {
    const size_t B = std::min(chunk, data.n - start);
    model.encode(data.row(start), B, mu.data(), logvar.data(), data.label_ptr(start));
    model.decode(mu.data(), B, xhat.data(), data.label_ptr(start));
    for (size_t r = 0; r < B; ++r) {
      const float* x = data.row(start + r);
      double se = 0;
      for (size_t j = 0; j < D; ++j) se += (x[j] - xhat[r * D + j]) * (x[j] - xhat[r * D + j]);
      e.mse_rows[start + r] = static_cast<float>(se / D);
      total += se;
    }
  }
  if (data.n) e.mse = total / (static_cast<double>(data.n) * D);
  return e;
}

double psnr_db(double mse) { return 10.0 * std::log10(1.0 / std::max(mse, 1e-20)); }

}  // namespace vae
