// The inference API: a trained model loaded once and called from anywhere in a program.
//
//   vae::Model m = vae::Model::load("runs/mnist/best.safetensors");  // full or weights-only
//   std::vector<float> x(n * m.input_dim()), mu(n * m.latent()), logvar(n * m.latent());
//   m.encode({x.data(), n, m.input_dim()}, {mu.data(), n, m.latent()},
//            {logvar.data(), n, m.latent()});
//
// Legend: B rows of a call (any B ≥ 0), D data size, Z latent size, Y classes.
//
// Units. Every x a caller passes or receives is in the data's own units (raw pixel values, raw
// table columns). The checkpoint's scaling (vae/data_pipeline.h, Scaler) is applied on the way
// in, y = (x − offset) ⊙ factor, and undone on the way out, x = y / factor + offset; μ, log σ²
// and z are the model's latent space. score() is −log p(y) of the scaled y, in nats.
//
// Buffers. Every array is a caller-owned, row-major MatrixView whose shape is checked against
// the model's sizes and the other arguments of the call; a mismatch throws vae::Error naming the
// argument ("mu: has 3 rows, x has 4") and nothing is written. Conditional models (Y > 0) take
// labels (B) in 0..Y−1 for every call that decodes or encodes; other models take none.
//
// Threads. A Model's methods are const and may be called from any number of threads at once on
// one loaded model: the weights are shared read-only, and each call borrows a workspace (the
// activations of one forward pass) from a lock-free pool owned by the model, or makes its own
// when every pooled one is in use. Results do not depend on which workspace a call got, so
// concurrent calls give the bit-identical results of serial ones. BLAS threading follows
// vae::set_num_threads (vae/runtime.h); a program that calls from many threads usually wants
// set_num_threads(1), one core per calling thread. score() with importance samples splits its
// rows over num_threads() workers of its own, switching BLAS to one thread meanwhile (a
// process-wide setting): call it from many threads at once only with set_num_threads(1).
//
// Errors are vae::Error (vae/error.h) exceptions carrying one line; nothing aborts on bad input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "vae/checkpoint.h"
#include "vae/eval.h"
#include "vae/model.h"

namespace vae {

/// A caller-owned row-major matrix: `rows` rows of `cols` values at `data`. Does not own its
/// memory. T is float for data and latents, const float for inputs.
template <class T>
struct MatrixView {
  T* data = nullptr;
  size_t rows = 0, cols = 0;
  MatrixView() = default;
  MatrixView(T* data_, size_t rows_, size_t cols_) : data(data_), rows(rows_), cols(cols_) {}
  /// A read-only view of a writable one.
  template <class U>
  MatrixView(const MatrixView<U>& o) : data(o.data), rows(o.rows), cols(o.cols) {}
  size_t size() const { return rows * cols; }
  T* row(size_t i) const { return data + i * cols; }
};
using ConstView = MatrixView<const float>;
using MutView = MatrixView<float>;

/// Class labels (B), one per row, or empty (data null, size 0) for unconditional models.
struct LabelView {
  const int32_t* data = nullptr;
  size_t size = 0;
  LabelView() = default;
  LabelView(const int32_t* data_, size_t size_) : data(data_), size(size_) {}
};

/// What score() estimates per example.
struct ScoreOptions {
  /// 0: −ELBO = E_q[−log p(y|z)] + KL(q ‖ p), one z sample per example (vae::evaluate_elbo);
  /// K ≥ 1: −log p̂(y) with K importance samples (vae::evaluate_iw; K = 1 is the ELBO's
  /// one-sample estimate with the KL sampled too).
  int importance_samples = 0;
  uint64_t seed = kEvalSeed;  ///< the ε of the estimate: same seed, same numbers
};

class Model {
 public:
  /// Reads a checkpoint written by `vae train` or `vae export --weights-only`. Throws
  /// vae::Error "<path>: <what is wrong>".
  static Model load(const std::string& path);
  /// A model from a checkpoint already in memory (its weights and scaling are copied).
  explicit Model(const Checkpoint& ckpt);
  ~Model();
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;

  const ModelConfig& config() const;
  const Scaler& scaler() const;  ///< the data transform applied on the way in (identity: none)
  size_t input_dim() const;      ///< D
  size_t latent() const;         ///< Z
  int num_classes() const;       ///< Y, or 0 for an unconditional model

  /// Posterior q(z|x) = N(μ, diag exp(log σ²)): x (B, D) → mu (B, Z), logvar (B, Z).
  void encode(ConstView x, MutView mu, MutView logvar, LabelView labels = {}) const;
  /// Decoder means for latent rows: z (B, Z) → x (B, D) in data units (σ(logits) for Bernoulli,
  /// the Gaussian mean), the scaling undone.
  void decode(ConstView z, MutView x, LabelView labels = {}) const;
  /// x.rows draws decoded from the prior: z ~ p(z) by Vae::sample_prior with Rng(seed) (N(0, I),
  /// or the VampPrior's mixture), then decode. The same seed gives the same rows (what
  /// `vae sample --seed` draws).
  void sample(uint64_t seed, MutView x, LabelView labels = {}) const;
  /// decode(μ(x)): the reconstruction of each row at its posterior mean, x, x_hat (B, D).
  void reconstruct(ConstView x, MutView x_hat, LabelView labels = {}) const;
  /// Per-example scores (B, 1) in nats, lower is better (ScoreOptions): the value `vae score`
  /// and `vae eval` average.
  void score(ConstView x, MutView scores, const ScoreOptions& opts = {},
             LabelView labels = {}) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vae
