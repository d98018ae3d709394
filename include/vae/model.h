// The variational autoencoder: an encoder network to a diagonal Gaussian q(z|x) = N(μ, diag σ²),
// the reparameterisation z = μ + σ ⊙ ε, and a decoder network to the parameters of p(x|z).
//
// Legend: B batch, D data size (= C·H·W for images), F encoder features, Z latent size,
// K importance samples, Y classes (conditional models), H_l width of layer l.
//
//   encoder   layers (dense, gated_dense, conv, reshape) from x (B,D) to features h (B,F); each
//             is y = f(layer(x)), f the model's activation (none after gated_dense: its gate)
//   heads     μ = h W_μᵀ + b_μ (B,Z),   log σ² = h W_vᵀ + b_v (B,Z)
//   sample    z = μ + exp(½ log σ²) ⊙ ε  (B,Z),  ε ~ N(0, I) given by the caller
//   decoder   a stack of layers (dense, reshape, conv_transpose) from z (B,Z) to out (B,D): the
//             Bernoulli logits, or the Gaussian mean; its last layer has no activation
//   loss      per example: −log p(x|z) summed over D (Bernoulli: softplus(l) − x·l; Gaussian:
//             ½((x − m)/σ)² + log σ + ½ log 2π with σ fixed or learned per dimension), through
//             the likelihood's row (include/vae/likelihood.h, src/model/likelihoods/),
//             plus KL(q ‖ N(0,I)) (src/model/losses.h); the objective is the batch mean.
//   conditional (num_classes = Y > 0): the one-hot label y (B,Y) is appended to the input of the
//             encoder's first dense layer (the heads, when there is none) and to z at the
//             decoder's input: q(z|x,y), p(x|z,y) (Sohn et al. 2015).
//   prior     p(z) through the prior's row (include/vae/prior.h, src/model/priors/): N(0, I),
//             or the VampPrior (1/K_u) Σ_k q(z|u_k) over K_u pseudo-inputs u (K_u, D), learned
//             parameters: each forward also runs the encoder on u ("the pseudo-input pass", its
//             own activations) for the components' μ_k, log σ²_k (K_u, Z). With the VampPrior
//             the KL term is always the estimate at the drawn z, log q(z|x) − log p(z)
//             (model/priors/vamp.h), and its gradient reaches u and, through both encoder
//             passes, the encoder's weights.
//   latent    each way of drawing z and scoring it under the prior — one stochastic layer under
//             N(0, I), one under the VampPrior, or the two layers below — is one latent
//             structure (src/model/latent.h), chosen once when the model is built; the model's
//             call lists reach it at named steps, its math sits in its own file pair.
//   IWAE      (forward_iw, K samples per example, Burda et al. 2016):
//             log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x),
//             L_K = −log (1/K) Σ_k w_k  (log-sum-exp in double);
//             ∂L_K/∂θ = −Σ_k w̃_k ∂log w_k/∂θ,  w̃_k = w_k / Σ_j w_j.
//             With K = 1, L_1 is the VAE objective with the KL estimated at the sample (see
//             KlEstimator); its expectation is the ELBO.
//   hierarchy (top_latent = Z₂ > 0: two stochastic layers, the HVAE of Tomczak & Welling 2018)
//             z = [z₁, z₂] (B,Z), z₁ its first Z₁ = Z − Z₂ values, z₂ the last Z₂; the encoder
//             and heads above give q(z₂|x); two more stacks of the encoder's layers give
//             q(z₁|x, z₂) from [x, z₂] and p(z₁|z₂) from z₂ ("encoder_z1.*", "prior_z1.*") —
//             with a convolutional encoder (the ConvHVAE) q(z₁|x, z₂) runs its convolutions on
//             x and its flat layers on [features, z₂], p(z₁|z₂) only the flat layers; the
//             decoder reads z = [z₁, z₂]; p(z₂) = N(0, I). The objective and the IW weights are
//             in src/model/hierarchy.h. encode gives q(z₁|x, z₂ = μ₂) beside q(z₂|x), as the
//             rows [μ₁, μ₂], [log σ²₁, log σ²₂]; log_prior and sample_prior are p(z₁|z₂) p(z₂).
//
// Architectures: "mlp" (dense layers of `hidden`, decoder mirrored — the default 784-400-20),
// "conv" (set_conv_preset: two stride-2 convolutions, a dense bottleneck, and the mirror image
// with transposed convolutions), or "custom" (the encoder and decoder lists of a JSON config,
// parse_model_config). Flatten is implicit (a dense layer after a conv reads the NCHW tensor as
// a row); reshape is explicit in the decoder.
// With no hidden layers (mlp, hidden empty) encoder heads and decoder are linear maps: with a
// Gaussian likelihood that is probabilistic PCA, whose exact log p(x) is known (tests use it).
//
// Vae::backward is forward's call list read in reverse; each call's math sits beside the
// function it calls: a layer's in its kind's header (src/nn/layers/dense.h, conv.h,
// gated_dense.h, conv_transpose.h, reshape.h, reached through LayerSpec::kind), the rest in
// include/vae/nn.h and src/model/losses.h.
//
// Storage: all parameters live in one flat buffer, all gradients in another of the same layout
// (param_table() names each slice, PyTorch-style "encoder.0.weight"); all activations in one flat
// buffer, their gradients in another. Nothing is allocated after construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vae/likelihood.h"
#include "vae/nn.h"
#include "vae/prior.h"
#include "vae/rng.h"

namespace vae {

struct LayerKind;  // one row of the layer table: everything about one kind (src/nn/layers/)
struct ModelPlan;  // the layer plan of a config (src/model/plan.h)
template <class T>
class LatentStructure;  // how z is drawn and what its prior is (src/model/latent.h)

/// Owns a model's latent structure; a copy of the model copies it (src/model/latent.cpp).
template <class T>
class LatentPtr {
 public:
  LatentPtr();
  explicit LatentPtr(std::unique_ptr<LatentStructure<T>> p);
  LatentPtr(const LatentPtr& other);
  LatentPtr(LatentPtr&& other) noexcept;
  LatentPtr& operator=(LatentPtr other) noexcept;
  ~LatentPtr();
  LatentStructure<T>* operator->() const { return p_.get(); }

 private:
  std::unique_ptr<LatentStructure<T>> p_;
};

/// One layer of an encoder or decoder stack (ModelConfig::encoder / decoder). Its kind says which
/// of the fields it reads; each kind's header under src/nn/layers/ (dense.h, gated_dense.h,
/// conv.h, conv_transpose.h, reshape.h) gives its JSON form, shapes, parameters and math.
struct LayerSpec {
  const LayerKind* kind = nullptr;  ///< find_layer_kind("conv"); nullptr: not set (an error)
  int units = 0;           ///< (gated) dense: output features; conv, conv_transpose: channels out
  int kernel = 0;          ///< conv, conv_transpose: square kernel side
  int stride = 1;          ///< conv, conv_transpose
  int padding = 0;         ///< conv, conv_transpose: zeros on each side
  int output_padding = 0;  ///< conv_transpose: extra bottom/right rows and columns, < stride
  int shape[3] = {0, 0, 0};  ///< reshape: (C, H, W) of the NCHW tensor the flat input becomes
  bool operator==(const LayerSpec& o) const;
};
/// The kind whose JSON type name is `type` ("dense", "conv", "conv_transpose", "reshape"), or
/// nullptr when there is none.
const LayerKind* find_layer_kind(const std::string& type);
/// The kind's JSON type name.
const char* layer_kind_name(const LayerKind* kind);

/// A layer placed in its stack by the model's plan: its spec, and the geometry of one example's
/// input and output as NCHW (C, H, W) — a flat tensor is (n, 1, 1). Fixed once from the
/// ModelConfig; the layer's kind shapes its parameters and calls from it.
struct PlannedLayer {
  LayerSpec spec;
  std::string name;  ///< parameter prefix: "encoder.0", "decoder.3", "decoder.out", "encoder.mu"
  int in_c = 0, in_h = 1, in_w = 1;  ///< the input as the layer reads it (dense: flattened)
  int out_c = 0, out_h = 1, out_w = 1;
  int cond = 0;     ///< one-hot width appended to this layer's input (conditional models)
  bool act = true;  ///< followed by the model's activation (not the output layer, not the heads)
  size_t in_size() const { return static_cast<size_t>(in_c) * in_h * in_w; }
  size_t out_size() const { return static_cast<size_t>(out_c) * out_h * out_w; }
};

/// How a model's layer lists are given (the file comment).
enum class Arch {
  Mlp,     ///< dense layers of `hidden`, decoder mirrored
  Conv,    ///< set_conv_preset
  Custom,  ///< the encoder and decoder lists of a model description (parse_model_config)
};
const char* arch_name(Arch arch);  ///< "mlp", "conv", "custom" (the JSON strings)
/// The Arch named by arch_name; throws vae::FieldError("arch", ...) for any other name.
Arch parse_arch(const std::string& name);

struct ModelConfig {
  int input_dim = 784;              ///< D
  std::vector<int> hidden = {400};  ///< mlp: encoder widths H_1..H_L (decoder mirrors them); may be empty
  int latent = 20;                  ///< Z
  Activation activation = Activation::Relu;
  Likelihood likelihood = Likelihood::Bernoulli;  ///< p(x|z) (include/vae/likelihood.h)
  double sigma = 1.0;  ///< the fixed scale of a likelihood whose SigmaRole is Fixed (Gaussian σ)
  int height = 28, width = 28, channels = 1;  ///< image geometry of x, or 0 when not images
  int num_classes = 0;        ///< Y > 0: a conditional VAE on one-hot labels 0..Y−1
  Arch arch = Arch::Mlp;      ///< how the layer lists are given
  Prior prior = Prior::Standard;  ///< p(z) (include/vae/prior.h)
  int pseudo_inputs = 500;        ///< K, the VampPrior's pseudo-inputs (read only by that prior)
  /// Z₂ > 0: a hierarchical VAE whose z = [z₁, z₂] keeps its top layer z₂ in the last Z₂ of the
  /// `latent` values (the file comment; src/model/hierarchy.h); 0: one stochastic layer.
  int top_latent = 0;
  /// conv/custom: the encoder's layers from x to the features the heads read, and the decoder's
  /// from z to the output (its last layer is the output layer: no activation, D values).
  std::vector<LayerSpec> encoder, decoder;

  /// Throws vae::Error naming the offending field — a vae::FieldError for a field's value
  /// ("latent: must be in 1..16384, got 0", "decoder[3].kernel: must be in 1..64, got 0",
  /// "decoder: gives 1x26x26 but the data are 1x28x28").
  void validate() const;
  std::string to_json() const;
  /// Parses what to_json wrote; throws vae::Error "<origin>: ..." on a malformed config.
  static ModelConfig from_json(const std::string& text, const std::string& origin);
  /// The model part of a --config file (parse_model_config's format) that gives this model.
  std::string to_description() const;
  /// One line: "784-400-20 mlp" or "1x28x28 conv32 conv64 d256 | z20 | d256 d3136 r64x7x7 ct32 ct1",
  /// with ", vamp prior K=500" after it for a prior other than N(0, I).
  std::string describe() const;
};

/// "bernoulli", "gaussian" (fixed σ) or "gaussian (learned sigma)": what metrics and eval print.
std::string likelihood_name(const ModelConfig& cfg);
/// "standard normal" or "vamp (K = 500 pseudo-inputs)": what info and report print.
std::string prior_description(const ModelConfig& cfg);

/// Sets cfg.likelihood (and cfg.sigma, for a number) from the words of the command line or a
/// model description: `name` "bernoulli" | "gaussian", `sigma` a positive number or "learned";
/// an absent word keeps cfg's. Throws FieldError("likelihood" | "sigma", …) and leaves cfg as it
/// was when the words name no likelihood ("sigma: 'learned' needs likelihood 'gaussian'").
void set_likelihood(ModelConfig& cfg, const std::optional<std::string>& name,
                    const std::optional<std::string>& sigma);

/// Makes cfg the "conv" preset for its image geometry (height, width, channels ≥ 1):
///   encoder  conv 32 k s2 p1, conv 64 k s2 p1, dense 256
///   decoder  dense 256, dense 64·h·w, reshape (64, h, w), conv_transpose 32 k s2 p1,
///            conv_transpose C k s2 p1   (no activation: the output layer)
/// with k = 4 for even sides and 3 for odd ones, so each stride-2 layer halves (rounding up for
/// odd sides) and its mirror restores the size exactly. Throws vae::Error when the image is
/// smaller than 4×4 or its height and width differ in parity.
void set_conv_preset(ModelConfig& cfg);

/// Reads a model description (JSON) over the defaults in `base`:
///   {"encoder": [{"type": "conv", "channels": 32, "kernel": 4, "stride": 2, "padding": 1},
///                {"type": "dense", "units": 256}],
///    "decoder": [{"type": "dense", "units": 3136}, {"type": "reshape", "shape": [64, 7, 7]},
///                {"type": "conv_transpose", "channels": 1, "kernel": 4, "stride": 2,
///                 "padding": 1, "output_padding": 0}],
///    "latent": 20, "activation": "relu", "likelihood": "bernoulli", "sigma": 1.0 | "learned"}
/// or {"hidden": [512, 256], ...} for an MLP. Every key is optional; unknown keys are errors.
/// Throws vae::Error "<origin>: <field>: <what is wrong>" ("model.json: encoder[0].kernel: must
/// be an integer"). The layer stack is checked against the data's geometry later, by validate().
ModelConfig parse_model_config(const std::string& text, const std::string& origin,
                               const ModelConfig& base);

/// How the KL term of the one-sample VAE objective is computed.
enum class KlEstimator {
  Analytic,  ///< KL(q ‖ N(0,I)) in closed form (the default; src/model/losses.h)
  Sample,    ///< log q(z|x) − log p(z) at the drawn z = ½ Σ_j (z_j² − ε_j² − log σ²_j)
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

/// ModelConfig::validate's caps on size: hidden layers per network (--hidden), and parameters
/// (2^37, about 137 billion: 2 TiB for the weights, gradients and Adam moments of a training
/// run; smaller models that do not fit are refused later, by free memory or disk space).
inline constexpr size_t kMaxHiddenLayers = 100;
inline constexpr size_t kMaxParams = size_t{1} << 37;

/// Sums over a batch, in nats.
struct LossParts {
  double recon = 0;  ///< Σ −log p(x|z)
  double kl = 0;     ///< Σ KL(q(z|x) ‖ p(z))
  double total() const { return recon + kl; }
};

/// A contiguous slice [lo, hi) of the flat gradient buffer (Vae::grads()), in elements.
struct GradRange {
  size_t lo = 0, hi = 0;
  bool operator==(const GradRange& o) const { return lo == o.lo && hi == o.hi; }
};

/// Told by Vae::backward as slices of the gradient become final (Vae::set_backward_hook), so that
/// a caller that sends gradients elsewhere can start on the slices that are done while the rest
/// of the backward pass runs (distributed training overlaps its exchange so:
/// src/train/data_parallel.h).
class BackwardHook {
 public:
  virtual ~BackwardHook() = default;
  /// Slice i of Vae::backward_ranges(), `range` = backward_ranges()[i], is final for this
  /// backward call: nothing later in the call writes it (a later backward call without zero_grad
  /// adds to it again). Called once per slice per backward, i = 0, 1, ... in order, on the thread
  /// that runs backward, before backward returns.
  virtual void gradient_ready(size_t i, GradRange range) = 0;
};

/// What a Vae allocates besides its parameters and activations.
enum class VaeBuffers {
  Training,     ///< parameter gradients and activation gradients too: forward, backward, Adam
  ForwardOnly,  ///< neither: forward passes only (evaluation, inference); backward, zero_grad
                ///< and grads() are contract violations
};

template <class T>
class Vae {
 public:
  /// Allocates parameters and activations for batches of up to max_batch rows, and up to
  /// max_samples importance samples per row (forward_iw; the tensors from z on hold
  /// max_batch·max_samples rows, the encoder's max_batch), and with VaeBuffers::Training the
  /// gradients of both.
  Vae(const ModelConfig& cfg, int max_batch, int max_samples = 1,
      VaeBuffers buffers = VaeBuffers::Training);

  const ModelConfig& config() const { return cfg_; }
  int max_batch() const { return max_batch_; }
  int max_samples() const { return max_samples_; }
  const std::vector<ParamInfo>& params_info() const { return table_; }
  size_t num_params() const { return num_params_; }
  bool forward_only() const { return grads_.empty() && num_params_ > 0; }
  T* params() { return pdata(); }
  const T* params() const { return pdata(); }
  T* grads() { return grads_.data(); }  ///< (P); nullptr when forward-only
  const T* grads() const { return grads_.data(); }

  /// PyTorch's defaults: dense and conv W, b ~ U(−1/√fan_in, 1/√fan_in), fan_in = I for dense,
  /// C_in·K² for conv and (as PyTorch computes it) C_out·K² for conv_transpose; the likelihood's
  /// own parameters (the learned log σ) at their row's start value (0); the prior's own (the
  /// VampPrior's pseudo-inputs) as prior_init_params says (src/model/priors/priors.h).
  void init_params(Rng& rng);

  /// Full forward pass for a batch: x (B,D), ε (B,Z), labels (B) for conditional models (else
  /// ignored; nullptr means the default label). Keeps every activation (and a copy of ε) for
  /// backward. Returns the batch sums of the two loss terms.
  /// With the VampPrior the KL sum is that of the estimate at the drawn z (the file comment).
  LossParts forward(const T* x, const T* eps, int B, const int32_t* labels = nullptr);
  /// The K-sample importance-weighted forward (file comment): ε (K·B, Z) sample-major — rows
  /// k·B .. k·B+B−1 are sample k of rows 0..B−1. K ≤ max_samples. Returns the K-sample mean of
  /// the reconstruction sums and the analytic KL sums (the −ELBO estimate, for reporting; with
  /// the VampPrior the K-sample mean of the estimated KL sums);
  /// iw_objective() then holds Σ_rows L_K and backward() differentiates L_K.
  LossParts forward_iw(const T* x, const T* eps, int B, int K, const int32_t* labels = nullptr);
  /// Σ over the rows of the last forward_iw of L_K (nats).
  double iw_objective() const { return iw_objective_; }
  /// log w of each of the K·B sample rows of the last forward_iw (its layout) into log_w.
  void iw_log_weights(double* log_w) const;
  /// Per-example parts of the last forward (K = 1): recon_rows, kl_rows (B each).
  void loss_rows(const T* x, int B, T* recon_rows, T* kl_rows) const;
  /// Accumulates ∂(mean objective)/∂θ into grads() — mean over the B rows of the last forward,
  /// which must have been called with the same x and B. Two backward calls without zero_grad
  /// in between add their gradients (gradient accumulation over micro-batches).
  /// After forward: the objective is recon + β · KL-term, where the KL term is the analytic KL,
  /// or with free_bits > 0 Σ_j max(λ, KL̄_j) (src/model/losses.h), or with KlEstimator::Sample
  /// the sampled log q − log p (free bits not allowed then). With the VampPrior the KL term is
  /// always the sampled one (kl is not read; free bits not allowed).
  /// After forward_iw: the objective is L_K (beta, free_bits and kl must keep their defaults).
  /// Returns the objective's value, nats per example (the batch mean).
  double backward(const T* x, int B, double beta = 1.0, double free_bits = 0.0,
                  KlEstimator kl = KlEstimator::Analytic);
  /// From now on reads and writes its parameters in `owner`'s buffer instead of its own (freed):
  /// data-parallel replicas share one copy of the weights (train/data_parallel.h). owner must have
  /// the same config, own its parameters, and outlive this model. Gradients stay separate.
  void share_params(Vae& owner);
  /// The same for a forward-only model over weights it only reads (evaluation workers,
  /// inference workspaces): owner must not change them while this model is in use.
  void share_params_read_only(const Vae& owner);
  /// Zeroes the parameter gradients (one fill of the flat buffer).
  void zero_grad();

  /// The slices of the gradient in the order backward() finishes them, one per layer with
  /// parameters: the likelihood's own parameters (after the reconstruction term), the decoder's
  /// layers from the output layer back, the μ head, the log σ² head, the encoder's layers from
  /// the last back (with the VampPrior only after its pseudo-input pass, which adds to them too),
  /// then the prior's own (the pseudo-inputs). Together they cover [0, num_params()) once.
  const std::vector<GradRange>& backward_ranges() const { return backward_ranges_; }
  /// Every later backward() calls hook->gradient_ready as each slice of backward_ranges() becomes
  /// final (BackwardHook). nullptr (the default): no calls, and no cost but a test per slice.
  /// The hook must outlive its use.
  void set_backward_hook(BackwardHook* hook) { hook_ = hook; }

  /// The label used for a conditional model when a call passes labels = nullptr (default 0).
  void set_default_label(int label);

  // Activations of the last forward, (B, ·) row-major ((K·B, ·) for z and logits after
  // forward_iw).
  const T* mu() const { return acts_.data() + mu_; }
  const T* logvar() const { return acts_.data() + logvar_; }
  const T* z() const { return acts_.data() + z_; }
  const T* logits() const { return acts_.data() + logits_; }  ///< decoder output (B, D)
  /// −log p(x|z) for B rows of decoder output `out` (B, D) against x (B, D): the batch sum,
  /// with per-row values in rows (B) when non-null.
  double recon_nll(const T* out, const T* x, int B, T* rows) const;

  /// n draws from the prior into z (n, Z): N(0, I) from rng.normal_fill; with the VampPrior
  /// z = μ_k + σ_k ⊙ ε, ε from rng.normal_fill, then k = rng.below(K_u) for each row in turn
  /// (the pseudo-input pass runs first); with a hierarchy z₂ = ε₂, z₁ = μ_p(z₂) + σ_p(z₂) ⊙ ε₁.
  void sample_prior(T* z, size_t n, Rng& rng);
  /// log p(z) of the model's prior for n ≤ max_batch·max_samples rows of z (n, Z) into logp (n):
  /// Σ_j −½ (log 2π + z_j²), or the VampPrior's mixture (after its pseudo-input pass), or with a
  /// hierarchy log N(z₂; 0, I) + log p(z₁|z₂).
  void log_prior(const T* z, int n, T* logp);
  /// Whether q(z|x) is one Gaussian N(μ, σ²) per example, encode's rows: true for one stochastic
  /// layer (any prior), false with a hierarchy (q(z₁|x, z₂) depends on the drawn z₂).
  bool gaussian_posterior() const;

  /// Posterior parameters for n rows of x (any n; processed in chunks of max_batch).
  /// mu, logvar: (n, Z). labels (n) for conditional models, or nullptr (the default label).
  /// With a hierarchy the rows are [μ_q, μ₂], [log σ²_q, log σ²₂]: q(z₁|x, z₂ = μ₂), q(z₂|x).
  void encode(const T* x, size_t n, T* mu, T* logvar, const int32_t* labels = nullptr);
  /// Decoder means for n latent rows z (n, Z) → out (n, D): σ(logits) for Bernoulli, the mean
  /// itself for Gaussian. labels as for encode.
  void decode(const T* z, size_t n, T* out, const int32_t* labels = nullptr);
  /// Raw decoder output (logits, or the Gaussian mean) for B ≤ max_batch·max_samples latent
  /// rows z (B, Z); the returned (B, D) buffer is the model's own and is valid until the next
  /// call.
  const T* decode_logits(const T* z, int B, const int32_t* labels = nullptr);

 private:
  friend class LatentStructure<T>;  // a latent structure builds on the parts below

  // One layer of a stack, or a head, and where its tensors lie. Its kind's row (plan.spec.kind)
  // gives its parameters and calls. A view (reshape) has no buffers: its output is its input,
  // read with the next layer's shape.
  struct Layer {
    PlannedLayer plan;     // kind, per-example geometry, one-hot width, activation
    size_t p = 0;          // offset into params_ (and grads_) of the layer's first parameter
    size_t np = 0;         // its parameters: [p, p + np) (0 for a view)
    size_t in = 0;         // offset into acts_ of the input (kX: the data x)
    size_t cat = 0;        // offset of the concatenated input [in, one-hot] when cond > 0
    size_t a = 0, h = 0;   // pre-activation a and output h = f(a) (h = a when !act)
    size_t saved = 0;      // offset of what the kind saves from forward for backward, if any
  };
  static constexpr size_t kX = static_cast<size_t>(-1);
  // How many rows an activation tensor has room for: max_batch (the encoder on x),
  // max_batch·max_samples (from z on: one row per importance sample) or K_u (the pseudo-input
  // pass of the VampPrior).
  enum class Rows { Batch, Samples, Pseudo };

  size_t slot_rows(Rows rows) const;
  size_t acts_end() const;
  size_t add_slot(size_t width, Rows rows);
  size_t param_offset(const std::string& name) const;
  size_t first_param(const PlannedLayer& pl) const;
  size_t layer_param_count(const PlannedLayer& pl) const;
  Layer place_layer(const PlannedLayer& pl, size_t in, Rows rows);
  size_t place_stack(const std::vector<PlannedLayer>& planned, size_t in, Rows rows,
                     std::vector<Layer>& stack);
  void place_heads(const PlannedLayer& mu, const PlannedLayer& logvar, size_t features, Rows rows,
                   Layer& mu_head, Layer& lv_head);
  void allocate_buffers(bool training);
  void list_backward_ranges();

  const T* input_of(const Layer& l, const T* x) const;
  void one_hot_forward(const Layer& l, const T* x, int rows, const int32_t* labels, int period);
  void kind_forward(const Layer& l, const T* x, int rows);
  void layer_forward(const Layer& l, const T* x, int rows, const int32_t* labels, int period);
  void kind_backward(const Layer& l, const T* x, int rows);
  void one_hot_backward(const Layer& l, int rows);
  void layer_backward(const Layer& l, const T* x, int rows);
  void stack_backward(const std::vector<Layer>& stack, const T* x, int rows, bool final);
  void gradient_final(size_t lo, size_t hi);
  void layer_final(const Layer& l) { gradient_final(l.p, l.p + l.np); }
  void encoder_forward(const T* x, int B, const int32_t* labels, int period);
  void decoder_forward(int rows, const int32_t* labels, int period);
  void recon_backward(T* dout, const T* out, const T* x, T scale, int B);
  void clear_activation_grads(int B, int K);
  double iw_backward(const T* x, int B, T scale);
  double elbo_backward(const T* x, int B, T scale, double beta, double free_bits, KlEstimator kl);
  void heads_backward(const T* x, int B, bool final);
  void latent_forward(const T* x, const T* eps, int B, int K);

  ModelConfig cfg_;
  int max_batch_, max_samples_;
  std::vector<ParamInfo> table_;
  size_t num_params_ = 0;          // P
  std::vector<T> params_, grads_;  // (P) each, layout table_ (params_ empty when shared,
                                   // grads_ when forward-only)
  T* shared_ = nullptr;            // the owner's parameters after share_params, else nullptr
  T* pdata() const { return shared_ ? shared_ : const_cast<T*>(params_.data()); }
  std::vector<T> acts_, dacts_;    // activations and their gradients, same layout (dacts_
                                   // empty when forward-only)
  std::vector<Layer> enc_, dec_;   // hidden stack of the encoder; the decoder with its output layer
  Layer mu_head_, lv_head_;        // dense heads (their `in` is the encoder's features)
  size_t lk_params_ = 0;  // params_ offset of the likelihood's own parameters (last; P if none)
  size_t prior_params_ = 0;  // params_ offset of the prior's own (before the likelihood's)
  size_t mu_ = 0, logvar_ = 0, eps_ = 0, z_ = 0, logits_ = 0;  // acts_ offsets
  // The latent structure (standard prior, VampPrior, two stochastic layers), chosen once from
  // the table of src/model/latent.h; it holds its own tensors' offsets and buffers.
  LatentPtr<T> latent_;
  struct Slot {
    size_t offset, width;
    Rows rows;
  };
  std::vector<Slot> act_slots_;  // every activation tensor
  std::vector<T> layer_scratch_;    // the largest layer's scratch (its kind's scratch_size)
  std::vector<double> iw_weight_;   // (K·B) normalised importance weights w̃ of forward_iw
  std::vector<T> iw_recon_, iw_kl_;  // (K·B) −log p(x|z_k) and log q(z_k|x) − log p(z_k)
  double last_recon_ = 0;           // Σ −log p(x|z) of the last forward
  double iw_objective_ = 0;
  int last_batch_ = 0, last_samples_ = 0;  // B and K of the last forward (K = 0: plain forward)
  int32_t default_label_ = 0;
  std::vector<GradRange> backward_ranges_;  // backward_ranges()
  BackwardHook* hook_ = nullptr;            // set_backward_hook
  size_t next_range_ = 0;                   // the slice backward() reports next
};

extern template class Vae<float>;
extern template class Vae<double>;

}  // namespace vae
