// Importance-weighted log-likelihood (formula in include/vae/eval.h).
//
// Work split: the (example i, sample j) pairs are cut into one contiguous range of examples per
// worker (num_threads() of them); each worker owns a forward-only model over the source's weights
// (no gradients, no copy of the weights) whose decoder is sized for `rows` latent rows, or for
// the pairs of its range when fewer (its encoder for one), and runs its range in passes of
// `rows` pairs: one decoder GEMM batch, then the elementwise likelihood, both on its own core
// (BLAS single-threaded inside each worker, ScopedSerialBlas). Example i's ε come from its own
// stream, Rng(stream_seed(seed, i)), so the estimate does not depend on the number of workers or
// on `rows`.
// A model whose q(z|x) is not one Gaussian per example (Vae::gaussian_posterior false: two
// stochastic layers) has no posteriors to encode once: its worker runs the whole model
// (Vae::forward_iw, one sample per pair) on `rows` pairs at a time and takes each pair's log w
// from it (model/hierarchy.h).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "core/pool.h"
#include "train/distributed.h"
#include "vae/error.h"
#include "vae/eval.h"
#include "vae/rng.h"
#include "vae/runtime.h"

namespace vae {

namespace {

uint64_t stream_seed(uint64_t seed, size_t i) {
  return seed ^ (0x9e3779b97f4a7c15ull * (static_cast<uint64_t>(i) + 1));
}

// Rows per encoder pass, and so the unit in which ranks split the examples: a rank's range starts
// at a multiple of it, so its passes hold the rows one process's passes hold, and a GEMM gives each
// row the same bits.
constexpr size_t kEncodeRows = 64;

// The posteriors q(z|x_i) = N(μ_i, σ_i²) of examples [lo, hi) (this rank's), and what all K
// samples of an example share: σ_i = exp(½ log σ²_i), computed once per example rather than once
// per sample. Row i − lo holds example i.
struct Posteriors {
  size_t lo = 0;
  std::vector<float> mu, sigma;    // (hi − lo, Z) each
  std::vector<double> logvar_sum;  // (hi − lo) Σ_j log σ²_ij
};

Posteriors posteriors(const Vae<float>& source, const Dataset& data, size_t lo, size_t hi) {
  const size_t Z = static_cast<size_t>(source.config().latent), D = data.d, n = hi - lo;
  Posteriors q;
  q.lo = lo;
  q.mu.resize(n * Z);
  q.sigma.resize(n * Z);  // holds log σ² until converted below
  if (n > 0) {
    Vae<float> encoder(source.config(), kEncodeRows, 1, VaeBuffers::ForwardOnly);
    encoder.share_params_read_only(source);
    encoder.encode(data.x.data() + lo * D, n, q.mu.data(), q.sigma.data(), data.label_ptr(lo));
  }
  q.logvar_sum.assign(n, 0.0);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < Z; ++j) {
      float& s = q.sigma[i * Z + j];
      q.logvar_sum[i] += s;
      s = std::exp(0.5f * s);
    }
  return q;
}

// log (1/K) Σ_k w_k of each example of a range, accumulated across passes: running max m_i and
// s_i = Σ exp(log w − m_i), in double.
struct LogMeanExp {
  std::vector<double> max, sum;  // (n) each
  explicit LogMeanExp(size_t n) : max(n, -std::numeric_limits<double>::infinity()), sum(n, 0.0) {}
  void add(size_t i, double log_w) {
    if (log_w > max[i]) {
      sum[i] = sum[i] * std::exp(max[i] - log_w) + 1.0;
      max[i] = log_w;
    } else {
      sum[i] += std::exp(log_w - max[i]);
    }
  }
  double value(size_t i, int k) const {
    return max[i] + std::log(sum[i]) - std::log(static_cast<double>(k));
  }
};

// Fills per_example[i0, i1) with log (1/K) Σ_k w_k. `finished` counts completed examples for the
// progress report.
void iw_range(const Vae<float>& source, const Dataset& data, const Posteriors& q, int k,
              uint64_t seed, int rows, size_t i0, size_t i1, std::vector<double>& per_example,
              std::atomic<size_t>& finished, const std::function<void()>& on_pass) {
  const ModelConfig& cfg = source.config();
  const size_t Z = cfg.latent, D = cfg.input_dim;
  // Pairs p = (i − i0)·K + j of this range, `rows` at a time (no more than the range holds).
  const size_t n = i1 - i0, total = n * static_cast<size_t>(k);
  rows = static_cast<int>(std::min<size_t>(rows, total));
  // A forward-only model over the source's weights, sized for what the worker runs: decoder
  // passes of `rows` latent rows (tensors from z on hold max_batch·max_samples rows) and no
  // encoder pass (max_batch 1: the encoder's tensors hold one row; the posteriors were computed
  // before). No gradients of parameters or activations, no copy of the weights.
  // Without Gaussian posteriors the encoder runs on every pair: `rows` rows of one sample.
  const bool hier = !source.gaussian_posterior();
  Vae<float> model(cfg, hier ? rows : 1, hier ? 1 : rows, VaeBuffers::ForwardOnly);
  model.share_params_read_only(source);

  LogMeanExp lme(n);
  std::vector<float> eps(static_cast<size_t>(rows) * Z), z(static_cast<size_t>(rows) * Z);  // (R, Z)
  std::vector<float> nll(rows);                                                           // (R)
  std::vector<float> x_rows(hier ? static_cast<size_t>(rows) * D : 0);  // (R, D) each pair's x
  std::vector<double> log_w(hier ? rows : 0);                           // (R)
  std::vector<float> logp(hier ? 0 : rows);  // (R) log p(z) of each row under the model's prior
  const double half_z_log_2pi = 0.5 * static_cast<double>(Z) * std::log(2 * M_PI);
  const bool conditional = cfg.num_classes > 0 && !data.labels.empty();
  std::vector<int32_t> row_labels(conditional ? rows : 0);  // (R) the label of each latent row
  Rng rng;
  size_t done = 0;
  for (size_t base = 0; base < total; base += rows) {
    const int R = static_cast<int>(std::min<size_t>(rows, total - base));
    // z = μ_i + σ_i ⊙ ε of each row, example i's ε from its own stream.
    for (int r = 0; r < R; ++r) {
      const size_t p = base + r, i = i0 + p / k;
      if (p % k == 0) rng.reseed(stream_seed(seed, i));
      rng.normal_fill(&eps[r * Z], Z);
      if (hier) {
        std::copy(data.row(i), data.row(i) + D, &x_rows[r * D]);
        continue;
      }
      const size_t qi = (i - q.lo) * Z;  // example i's row of q
      for (size_t j = 0; j < Z; ++j) z[r * Z + j] = q.mu[qi + j] + q.sigma[qi + j] * eps[r * Z + j];
      if (conditional) row_labels[r] = data.labels[i];
    }
    if (hier) {  // the whole model on each pair's x: its log w (model/hierarchy.h)
      model.forward_iw(x_rows.data(), eps.data(), R, 1);
      model.iw_log_weights(log_w.data());
      for (int r = 0; r < R; ++r) lme.add((base + r) / k, log_w[r]);
    } else {
      const float* out =
          model.decode_logits(z.data(), R, conditional ? row_labels.data() : nullptr);  // (R, D)
      model.log_prior(z.data(), R, logp.data());
      for (int r = 0; r < R; ++r) {
        const size_t p = base + r, i = i0 + p / k;
        model.recon_nll(out + static_cast<size_t>(r) * D, data.row(i), 1, &nll[r]);
        double ee = 0;
        for (size_t j = 0; j < Z; ++j) ee += static_cast<double>(eps[r * Z + j]) * eps[r * Z + j];
        // log w = log p(x|z) + log p(z) − log q(z|x), log q = Σ_j −½ (log 2π + log σ²_j + ε²_j).
        const double lv = q.logvar_sum[i - q.lo];
        lme.add(p / k, -static_cast<double>(nll[r]) + logp[r] + half_z_log_2pi + 0.5 * ee + 0.5 * lv);
      }
    }
    const size_t now_done = std::min(n, (base + R) / k);
    finished += now_done - done;
    done = now_done;
    if (on_pass) on_pass();
  }
  for (size_t li = 0; li < n; ++li) per_example[i0 + li] = lme.value(li, k);
}

}  // namespace

IwResult evaluate_iw(const Vae<float>& source, const Dataset& data, int k, uint64_t seed,
                     const std::function<void(size_t, size_t)>& progress, int rows,
                     bool over_ranks) {
  VAE_ASSERT(k >= 1 && rows >= 1);
  const ModelConfig& cfg = source.config();
  const size_t N = data.n;
  VAE_ASSERT(data.d == static_cast<size_t>(cfg.input_dim));

  IwResult res;
  res.k = k;
  res.n = N;
  res.per_example.assign(N, 0.0);
  if (N == 0) return res;
  // This rank's examples [lo, hi): all of them in one process.
  const ItemRange mine = own_items(N, kEncodeRows, over_ranks);
  const size_t lo = mine.lo, M = mine.hi - mine.lo;
  // Their posteriors (without Gaussian ones each worker encodes every pair itself).
  const Posteriors q =
      source.gaussian_posterior() ? posteriors(source, data, lo, mine.hi) : Posteriors{};
  // One worker per thread, each on a contiguous range of examples.
  const int workers = static_cast<int>(std::min<size_t>(std::max(1, num_threads()), std::max<size_t>(M, 1)));
  std::atomic<size_t> finished{0};
  size_t reported = 0;
  auto report = [&] {  // called by worker 0 only, on the calling thread
    const size_t f = finished.load();
    if (progress && f != reported) progress(f, M);
    reported = f;
  };
  // With several workers each runs single-threaded BLAS on its own core (vae/runtime.h).
  std::optional<ScopedSerialBlas> serial;
  if (workers > 1) serial.emplace();
  WorkerPool pool(workers);
  pool.run([&](int w) {
    const size_t i0 = lo + M * w / workers, i1 = lo + M * (w + 1) / workers;
    if (i0 == i1) return;  // a rank with no block (fewer blocks than ranks)
    iw_range(source, data, q, k, seed, rows, i0, i1, res.per_example, finished,
             w == 0 ? std::function<void()>(report) : nullptr);
  });
  if (progress && reported != M) progress(M, M);
  // Every rank's estimates on every rank, rank by rank.
  if (over_ranks) share_rank_items(res.per_example.data(), N, kEncodeRows, sizeof(double));

  double sum = 0, sum_sq = 0;
  for (double v : res.per_example) {
    sum += v;
    sum_sq += v * v;
  }
  res.log_likelihood = sum / N;
  const double var = N > 1 ? std::max(0.0, (sum_sq - sum * sum / N) / (N - 1)) : 0.0;
  res.std_error = std::sqrt(var / N);
  return res;
}

}  // namespace vae
