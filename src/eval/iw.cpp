// Importance-weighted log-likelihood (formula in include/vae/eval.h).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "vae/error.h"
#include "vae/eval.h"
#include "vae/rng.h"

namespace vae {

IwResult evaluate_iw(const Vae<float>& source, const Dataset& data, int k, uint64_t seed,
                     const std::function<void(size_t, size_t)>& progress, int rows) {
  VAE_ASSERT(k >= 1 && rows >= 1);
  const ModelConfig& cfg = source.config();
  const size_t Z = cfg.latent, D = cfg.input_dim, N = data.n;
  VAE_ASSERT(data.d == D);
  // A copy of the model sized for `rows` latent rows per decoder pass.
  Vae<float> model(cfg, rows);
  std::copy(source.params(), source.params() + source.num_params(), model.params());

  IwResult res;
  res.k = k;
  res.n = N;
  res.per_example.assign(N, 0.0);
  std::vector<float> mu(N * Z), logvar(N * Z);  // (N, Z) each
  model.encode(data.x.data(), N, mu.data(), logvar.data(), data.label_ptr(0));
  const bool conditional = cfg.num_classes > 0 && !data.labels.empty();
  std::vector<int32_t> row_labels(conditional ? rows : 0);  // (R) the label of each latent row

  // Flattened (example i, sample j) pairs, `rows` at a time: row r of a pass is pair p = base + r,
  // i = p / K, j = p % K. Each example's log-sum-exp runs across passes: running max m_i and
  // s_i = Σ exp(log w − m_i), in double.
  std::vector<double> run_max(N, -std::numeric_limits<double>::infinity()), run_sum(N, 0.0);
  std::vector<float> eps(static_cast<size_t>(rows) * Z), z(static_cast<size_t>(rows) * Z);  // (R, Z)
  std::vector<float> nll(rows);                                                           // (R)
  Rng rng(seed);
  const size_t total = N * static_cast<size_t>(k);
  size_t done_examples = 0;
  for (size_t base = 0; base < total; base += rows) {
    const int R = static_cast<int>(std::min<size_t>(rows, total - base));
    rng.normal_fill(eps.data(), static_cast<size_t>(R) * Z);
    for (int r = 0; r < R; ++r) {
      const size_t i = (base + r) / k;
      for (size_t j = 0; j < Z; ++j)
        z[r * Z + j] = mu[i * Z + j] + std::exp(0.5f * logvar[i * Z + j]) * eps[r * Z + j];
    }
    for (size_t r = 0; r < row_labels.size() && r < static_cast<size_t>(R); ++r)
      row_labels[r] = data.labels[(base + r) / k];
    const float* out =
        model.decode_logits(z.data(), R, conditional ? row_labels.data() : nullptr);  // (R, D)
    for (int r = 0; r < R; ++r) {
      const size_t i = (base + r) / k;
      model.recon_nll(out + static_cast<size_t>(r) * D, data.row(i), 1, &nll[r]);
      double zz = 0, ee = 0, lv = 0;
      for (size_t j = 0; j < Z; ++j) {
        zz += static_cast<double>(z[r * Z + j]) * z[r * Z + j];
        ee += static_cast<double>(eps[r * Z + j]) * eps[r * Z + j];
        lv += logvar[i * Z + j];
      }
      const double log_w = -static_cast<double>(nll[r]) - 0.5 * zz + 0.5 * ee + 0.5 * lv;
      if (log_w > run_max[i]) {
        run_sum[i] = run_sum[i] * std::exp(run_max[i] - log_w) + 1.0;
        run_max[i] = log_w;
      } else {
        run_sum[i] += std::exp(log_w - run_max[i]);
      }
    }
    const size_t finished = std::min(N, (base + R) / k);
    if (progress && finished != done_examples) progress(finished, N);
    done_examples = finished;
  }

  const double log_k = std::log(static_cast<double>(k));
  double sum = 0, sum_sq = 0;
  for (size_t i = 0; i < N; ++i) {
    const double v = run_max[i] + std::log(run_sum[i]) - log_k;
    res.per_example[i] = v;
    sum += v;
    sum_sq += v * v;
  }
  if (N) {
    res.log_likelihood = sum / N;
    const double var = N > 1 ? std::max(0.0, (sum_sq - sum * sum / N) / (N - 1)) : 0.0;
    res.std_error = std::sqrt(var / N);
  }
  return res;
}

}  // namespace vae
