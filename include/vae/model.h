// The variational autoencoder: an MLP encoder to a diagonal Gaussian q(z|x) = N(μ, diag σ²), the
// reparameterisation z = μ + σ ⊙ ε, and an MLP decoder to Bernoulli logits of p(x|z).
//
// Legend: B batch, D data size, H_l hidden width of layer l, Z latent size.
//
//   encoder   h_0 = x (B,D);  a_l = h_{l-1} W_lᵀ + b_l,  h_l = f(a_l)   (B,H_l), l = 1..L
//   heads     μ = h_L W_μᵀ + b_μ (B,Z),   log σ² = h_L W_vᵀ + b_v (B,Z)
//   sample    z = μ + exp(½ log σ²) ⊙ ε  (B,Z),  ε ~ N(0, I) given by the caller
//   decoder   widths H_L..H_1 (the encoder's mirrored), then out = g W_oᵀ + b_o (B,D): the
//             Bernoulli logits, or the Gaussian mean
//   loss      per example: −log p(x|z) summed over D (Bernoulli: softplus(l) − x·l; Gaussian
//             with fixed σ: ½((x − m)/σ)² + log σ + ½ log 2π), plus KL(q ‖ N(0,I))
//             (include/vae/losses.h); the training objective is the mean over the batch.
// With no hidden layers (L = 0) encoder heads and decoder are linear maps: with a Gaussian
// likelihood that is probabilistic PCA, whose exact log p(x) is known (tests use it).
//
// Vae::backward is forward's call list read in reverse; each call's math sits beside the
// function it calls (include/vae/nn.h, include/vae/losses.h).
//
// Storage: all parameters live in one flat buffer, all gradients in another of the same layout
// (param_table() names each slice, PyTorch-style "encoder.0.weight"); all activations in one flat
// buffer, their gradients in another. Nothing is allocated after construction.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vae/nn.h"
#include "vae/rng.h"

namespace vae {

struct ModelConfig {
  int input_dim = 784;              ///< D
  std::vector<int> hidden = {400};  ///< encoder widths H_1..H_L (decoder mirrors them); may be empty
  int latent = 20;                  ///< Z
  Activation activation = Activation::Relu;
  std::string likelihood = "bernoulli";  ///< "bernoulli" (x in [0,1]) or "gaussian" (fixed sigma)
  double sigma = 1.0;                    ///< the Gaussian likelihood's standard deviation
  int height = 28, width = 28, channels = 1;  ///< image geometry of x, or 0 when not images

  /// Throws vae::Error naming the offending field ("--latent: must be >= 1, got 0").
  void validate() const;
  std::string to_json() const;
  /// Parses what to_json wrote; throws vae::Error "<origin>: ..." on a malformed config.
  static ModelConfig from_json(const std::string& text, const std::string& origin);
};

/// One named slice of the flat parameter buffer.
struct ParamInfo {
  std::string name;            ///< "encoder.0.weight", "encoder.mu.bias", "decoder.out.weight"...
  std::vector<int64_t> shape;  ///< (O, I) for weights, (O) for biases
  size_t offset = 0;           ///< into the flat buffer
  size_t numel = 0;
};

/// The parameter layout a config implies (same for every scalar type).
std::vector<ParamInfo> param_table(const ModelConfig& cfg);
/// Total number of parameters.
size_t param_count(const ModelConfig& cfg);

/// Sums over a batch, in nats.
struct LossParts {
  double recon = 0;  ///< Σ −log p(x|z)
  double kl = 0;     ///< Σ KL(q(z|x) ‖ p(z))
  double total() const { return recon + kl; }
};

template <class T>
class Vae {
 public:
  /// Allocates parameters, gradients and activations for batches of up to max_batch rows.
  Vae(const ModelConfig& cfg, int max_batch);

  const ModelConfig& config() const { return cfg_; }
  int max_batch() const { return max_batch_; }
  const std::vector<ParamInfo>& params_info() const { return table_; }
  size_t num_params() const { return params_.size(); }
  T* params() { return params_.data(); }
  const T* params() const { return params_.data(); }
  T* grads() { return grads_.data(); }
  const T* grads() const { return grads_.data(); }

  /// PyTorch's nn.Linear default: W, b ~ U(−1/√I, 1/√I) for a layer with I inputs.
  void init_params(Rng& rng);

  /// Full forward pass for a batch: x (B,D), ε (B,Z). Keeps every activation (and a copy of ε)
  /// for backward. Returns the batch sums of the two loss terms.
  LossParts forward(const T* x, const T* eps, int B);
  /// Per-example parts of the last forward: recon_rows, kl_rows (B each).
  void loss_rows(const T* x, int B, T* recon_rows, T* kl_rows) const;
  /// Accumulates ∂(mean loss)/∂θ into grads() — mean over the B rows of the last forward,
  /// which must have been called with the same x and B. Two backward calls without zero_grad
  /// in between add their gradients (gradient accumulation over micro-batches).
  /// With beta ≠ 1 or free_bits > 0 the objective's KL term is β · Σ_j max(λ, KL̄_j)
  /// (include/vae/losses.h); returns that term's value (nats per example, β included).
  double backward(const T* x, int B, double beta = 1.0, double free_bits = 0.0);
  /// Zeroes the parameter gradients (one fill of the flat buffer).
  void zero_grad();

  // Activations of the last forward, (B, ·) row-major.
  const T* mu() const { return acts_.data() + mu_; }
  const T* logvar() const { return acts_.data() + logvar_; }
  const T* z() const { return acts_.data() + z_; }
  const T* logits() const { return acts_.data() + logits_; }  ///< decoder output (B, D)
  /// −log p(x|z) for B rows of decoder output `out` (B, D) against x (B, D): the batch sum,
  /// with per-row values in rows (B) when non-null.
  double recon_nll(const T* out, const T* x, int B, T* rows) const;

  /// Posterior parameters for n rows of x (any n; processed in chunks of max_batch).
  /// mu, logvar: (n, Z).
  void encode(const T* x, size_t n, T* mu, T* logvar);
  /// Decoder means for n latent rows z (n, Z) → out (n, D): σ(logits) for Bernoulli, the mean
  /// itself for Gaussian.
  void decode(const T* z, size_t n, T* out);
  /// Raw decoder output (logits, or the Gaussian mean) for B ≤ max_batch latent rows z (B, Z);
  /// the returned (B, D) buffer is the model's own and is valid until the next call.
  const T* decode_logits(const T* z, int B);

 private:
  struct LayerSlots {       // offsets into acts_ for one hidden layer
    size_t a = 0, h = 0;    // pre-activation a (B,H) and output h = f(a) (B,H)
    int in = 0, out = 0;    // I and O of the layer's linear map
    size_t w = 0, b = 0;    // offsets into params_
  };
  void encoder_forward(const T* x, int B);
  void decoder_forward(int B);

  ModelConfig cfg_;
  int max_batch_;
  std::vector<ParamInfo> table_;
  std::vector<T> params_, grads_;  // (P) each, layout table_
  std::vector<T> acts_, dacts_;    // activations and their gradients, same layout
  std::vector<LayerSlots> enc_, dec_;
  size_t mu_w_ = 0, mu_b_ = 0, lv_w_ = 0, lv_b_ = 0, out_w_ = 0, out_b_ = 0;  // params_ offsets
  size_t mu_ = 0, logvar_ = 0, eps_ = 0, z_ = 0, logits_ = 0;                   // acts_ offsets
  std::vector<std::pair<size_t, int>> act_slots_;  // (offset, width) of every activation tensor
  std::vector<T> kl_weight_;  // (Z) per-dimension KL gradient factors (free bits)
  int last_batch_ = 0;
  bool gaussian_ = false;  // likelihood == "gaussian"
};

extern template class Vae<float>;
extern template class Vae<double>;

}  // namespace vae
