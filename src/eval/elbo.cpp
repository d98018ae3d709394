#include <algorithm>
#include <vector>

#include "vae/eval.h"
#include "vae/rng.h"

namespace vae {

ElboResult evaluate_elbo(Vae<float>& model, const Dataset& data, uint64_t seed) {
  Rng rng(seed);
  const int Z = model.config().latent;
  const int max_b = model.max_batch();
  std::vector<float> eps(static_cast<size_t>(max_b) * Z);  // (B, Z)
  double recon = 0, kl = 0;
  for (size_t start = 0; start < data.n; start += max_b) {
    const int B = static_cast<int>(std::min<size_t>(max_b, data.n - start));
    rng.normal_fill(eps.data(), static_cast<size_t>(B) * Z);
    const LossParts parts = model.forward(data.row(start), eps.data(), B);
    recon += parts.recon;
    kl += parts.kl;
  }
  ElboResult r;
  r.n = data.n;
  if (data.n) {
    r.recon = recon / data.n;
    r.kl = kl / data.n;
    r.loss = r.recon + r.kl;
  }
  return r;
}

}  // namespace vae
