// The VAE's forward and backward call lists (math in include/vae/model.h and the headers of the
// functions called; each layer's call goes through its kind's row, src/nn/layers/; the layer
// plan in src/model/plan.cpp).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "model/latent.h"
#include "model/likelihoods/likelihoods.h"
#include "model/losses.h"
#include "model/plan.h"
#include "model/priors/priors.h"
#include "nn/layers/layer.h"
#include "vae/error.h"
#include "vae/model.h"

namespace vae {

// ---- Construction ---------------------------------------------------------------------------

template <class T>
Vae<T>::Vae(const ModelConfig& cfg, int max_batch, int max_samples, VaeBuffers buffers)
    : cfg_(cfg), max_batch_(max_batch), max_samples_(max_samples) {
  cfg_.validate();
  VAE_ASSERT(max_batch >= 1 && max_samples >= 1);
  const ModelPlan plan = plan_model(cfg_);
  table_ = param_table(cfg_);
  num_params_ = param_count(cfg_);
  params_.assign(num_params_, T(0));
  const bool training = buffers == VaeBuffers::Training;
  if (training) grads_.assign(num_params_, T(0));

  // Activation layout: every tensor is a (rows, width) block of acts_; encoder tensors have
  // max_batch rows, tensors from z on max_batch·max_samples (one row per importance sample).
  const size_t features = place_stack(plan.encoder, kX, Rows::Batch, enc_);
  place_heads(plan.mu_head, plan.logvar_head, features, Rows::Batch, mu_head_, lv_head_);
  mu_ = mu_head_.a;
  logvar_ = lv_head_.a;
  eps_ = add_slot(cfg_.latent, Rows::Samples);
  z_ = add_slot(cfg_.latent, Rows::Samples);
  logits_ = place_stack(plan.decoder, z_, Rows::Samples, dec_);
  const LikelihoodRow& lk = likelihood_row(cfg_.likelihood);  // its own parameters come last
  lk_params_ = lk.params.empty() ? params_.size() : param_offset(lk.params.front().name);
  // The prior's own parameters, if any, come just before the likelihood's.
  const auto prior_tensors = prior_params(cfg_);
  prior_params_ = prior_tensors.empty() ? lk_params_ : param_offset(prior_tensors.front().first);
  latent_ = LatentPtr<T>(make_latent_structure<T>(cfg_));
  latent_->place(*this, plan);
  allocate_buffers(training);
  list_backward_ranges();
}

template <class T>
size_t Vae<T>::slot_rows(Rows rows) const {
  switch (rows) {
    case Rows::Batch: return static_cast<size_t>(max_batch_);
    case Rows::Samples: return static_cast<size_t>(max_batch_) * max_samples_;
    case Rows::Pseudo: return static_cast<size_t>(cfg_.pseudo_inputs);
  }
  return 0;
}

// Where the next activation tensor starts: the end of the last one.
template <class T>
size_t Vae<T>::acts_end() const {
  if (act_slots_.empty()) return 0;
  const Slot& last = act_slots_.back();
  return last.offset + slot_rows(last.rows) * last.width;
}

// A new (rows, width) block of acts_, rows = slot_rows(rows).
template <class T>
size_t Vae<T>::add_slot(size_t width, Rows rows) {
  const size_t offset = acts_end();
  act_slots_.push_back({offset, width, rows});
  return offset;
}

template <class T>
size_t Vae<T>::param_offset(const std::string& name) const {
  const auto p = std::find_if(table_.begin(), table_.end(),
                              [&](const ParamInfo& info) { return info.name == name; });
  VAE_ASSERT(p != table_.end());
  return p->offset;
}

// The offset of the layer's first parameter tensor (its kind lists them in buffer order).
template <class T>
size_t Vae<T>::first_param(const PlannedLayer& pl) const {
  const std::vector<LayerParam> params = pl.spec.kind->params(pl);
  return params.empty() ? 0 : param_offset(pl.name + "." + params.front().suffix);
}

// How many parameters the layer has: its tensors lie one after the other, so from the table's
// entry of its first to the end of its last.
template <class T>
size_t Vae<T>::layer_param_count(const PlannedLayer& pl) const {
  const std::vector<LayerParam> params = pl.spec.kind->params(pl);
  if (params.empty()) return 0;
  const std::string last = pl.name + "." + params.back().suffix;
  const auto p = std::find_if(table_.begin(), table_.end(),
                              [&](const ParamInfo& info) { return info.name == last; });
  VAE_ASSERT(p != table_.end());
  return p->offset + p->numel - first_param(pl);
}

// The layer with its parameters found and its tensors laid out after the input at `in`: the
// concatenated input [in, one-hot] when conditional, the pre-activation a, the output h = f(a),
// and what its kind saves for backward. Grows the scratch buffer to what the layer needs.
template <class T>
typename Vae<T>::Layer Vae<T>::place_layer(const PlannedLayer& pl, size_t in, Rows rows) {
  Layer l;
  l.plan = pl;
  l.in = in;
  const LayerKind& kind = *pl.spec.kind;
  if (kind.view) {
    l.a = l.h = in;  // the same values, read with the next layer's shape
    return l;
  }
  l.p = first_param(pl);
  l.np = layer_param_count(pl);
  if (pl.cond) l.cat = add_slot(pl.in_size() + pl.cond, rows);
  l.a = add_slot(pl.out_size(), rows);
  l.h = pl.act ? add_slot(pl.out_size(), rows) : l.a;
  if (const size_t saved = kind.saved_size(pl)) l.saved = add_slot(saved, rows);
  const size_t scratch = kind.scratch_size(pl, static_cast<int>(slot_rows(rows)));
  if (scratch > layer_scratch_.size()) layer_scratch_.assign(scratch, T(0));
  return l;
}

// Places a stack reading the tensor at `in`; returns the offset of its output.
template <class T>
size_t Vae<T>::place_stack(const std::vector<PlannedLayer>& planned, size_t in, Rows rows,
                           std::vector<Layer>& stack) {
  for (const PlannedLayer& pl : planned) {
    stack.push_back(place_layer(pl, in, rows));
    in = stack.back().h;
  }
  return in;
}

// The μ and log σ² heads read the encoder's features (through one shared [h, one-hot] when
// conditional): μ's layer lays out that concatenation, log σ²'s reuses it.
template <class T>
void Vae<T>::place_heads(const PlannedLayer& mu, const PlannedLayer& logvar, size_t features,
                         Rows rows, Layer& mu_head, Layer& lv_head) {
  mu_head = place_layer(mu, features, rows);
  lv_head.plan = logvar;
  lv_head.p = first_param(logvar);
  lv_head.np = layer_param_count(logvar);
  lv_head.in = features;
  lv_head.cat = mu_head.cat;
  lv_head.a = lv_head.h = add_slot(logvar.out_size(), rows);
}

template <class T>
void Vae<T>::allocate_buffers(bool training) {
  const size_t act_size = acts_end();
  acts_.assign(act_size, T(0));
  if (training) dacts_.assign(act_size, T(0));
  const size_t rows = slot_rows(Rows::Samples);
  iw_weight_.assign(rows, 0.0);
  iw_recon_.assign(rows, T(0));
  iw_kl_.assign(rows, T(0));
}

// backward_ranges(): the order backward() reports them in (gradient_final's calls).
template <class T>
void Vae<T>::list_backward_ranges() {
  const auto add = [&](size_t lo, size_t hi) {
    if (hi > lo) backward_ranges_.push_back({lo, hi});
  };
  const auto add_stack = [&](const std::vector<Layer>& stack) {
    for (size_t l = stack.size(); l-- > 0;) add(stack[l].p, stack[l].p + stack[l].np);
  };
  add(lk_params_, num_params_);
  add_stack(dec_);
  latent_->ranges(*this, backward_ranges_);
  add(mu_head_.p, mu_head_.p + mu_head_.np);
  add(lv_head_.p, lv_head_.p + lv_head_.np);
  add_stack(enc_);
  add(prior_params_, lk_params_);
}

template <class T>
void Vae<T>::init_params(Rng& rng) {
  // Weights are followed by their bias; both use the bound 1/√fan_in, fan_in = the product of
  // the weight's dimensions after the first (PyTorch's rule, for conv_transpose too).
  double bound = 0;
  for (const ParamInfo& p : table_) {
    if (p.offset >= prior_params_) break;  // the prior's and the likelihood's own: set below
    T* w = pdata() + p.offset;
    if (p.shape.size() >= 2) {
      double fan_in = 1;
      for (size_t k = 1; k < p.shape.size(); ++k) fan_in *= static_cast<double>(p.shape[k]);
      bound = 1.0 / std::sqrt(fan_in);
    }
    for (size_t j = 0; j < p.numel; ++j) w[j] = static_cast<T>((2.0 * rng.uniform() - 1.0) * bound);
  }
  prior_init_params(cfg_, pdata() + prior_params_, rng);
  likelihood_init_params(likelihood_row(cfg_.likelihood), pdata() + lk_params_, cfg_.input_dim);
}

template <class T>
void Vae<T>::set_default_label(int label) {
  VAE_ASSERT(cfg_.num_classes == 0 || (label >= 0 && label < cfg_.num_classes));
  default_label_ = label;
}

// ---- Forward --------------------------------------------------------------------------------

template <class T>
const T* Vae<T>::input_of(const Layer& l, const T* x) const {
  if (l.plan.cond) return acts_.data() + l.cat;
  return l.in == kX ? x : acts_.data() + l.in;
}

// [input, one-hot(label)] (rows, I + Y) at l.cat; row r's label is labels[r mod period], so the
// K sample rows of an example share its label.
template <class T>
void Vae<T>::one_hot_forward(const Layer& l, const T* x, int rows, const int32_t* labels,
                             int period) {
  T* A = acts_.data();
  const size_t I = l.plan.in_size(), W = I + l.plan.cond;
  const T* src = l.in == kX ? x : A + l.in;
  for (int r = 0; r < rows; ++r) {
    T* dst = A + l.cat + r * W;
    std::memcpy(dst, src + r * I, sizeof(T) * I);
    std::fill(dst + I, dst + W, T(0));
    const int32_t y = labels[r % period];
    VAE_ASSERT(y >= 0 && y < l.plan.cond);
    dst[I + y] = T(1);
  }
}

// a = layer(input) through the layer's kind, then h = f(a).
template <class T>
void Vae<T>::kind_forward(const Layer& l, const T* x, int rows) {
  T* A = acts_.data();
  l.plan.spec.kind->template calls<T>().forward(A + l.a, A + l.saved, input_of(l, x),
                                                pdata() + l.p, l.plan, rows,
                                                layer_scratch_.data());
  if (l.plan.act) activation_forward(A + l.h, A + l.a, rows * l.plan.out_size(), cfg_.activation);
}

template <class T>
void Vae<T>::layer_forward(const Layer& l, const T* x, int rows, const int32_t* labels, int period) {
  if (l.plan.spec.kind->view) return;  // its output is its input
  if (l.plan.cond) one_hot_forward(l, x, rows, labels, period);
  kind_forward(l, x, rows);
}

template <class T>
void Vae<T>::encoder_forward(const T* x, int B, const int32_t* labels, int period) {
  for (const Layer& l : enc_) layer_forward(l, x, B, labels, period);
  layer_forward(mu_head_, x, B, labels, period);  // μ (B,Z); fills the shared [h, one-hot] if any
  kind_forward(lv_head_, x, B);                   // log σ² (B,Z)
}

template <class T>
void Vae<T>::decoder_forward(int rows, const int32_t* labels, int period) {
  for (const Layer& l : dec_) layer_forward(l, nullptr, rows, labels, period);
}

template <class T>
LossParts Vae<T>::forward(const T* x, const T* eps, int B, const int32_t* labels) {
  VAE_ASSERT(B >= 1 && B <= max_batch_);
  const int period = labels ? B : 1;
  if (!labels) labels = &default_label_;
  T* A = acts_.data();
  encoder_forward(x, B, labels, period);
  latent_forward(x, eps, B, 1);  // z (B, Z)
  decoder_forward(B, labels, period);
  last_batch_ = B;
  last_samples_ = 0;
  LossParts loss;
  loss.recon = last_recon_ = recon_nll(A + logits_, x, B, nullptr);
  loss.kl = latent_->kl_forward(*this, B);
  return loss;
}

// z (K·B, Z) from ε (K·B, Z), kept for backward, after the encoder's pass: z_k = μ + σ ⊙ ε_k,
// rows k·B .. k·B+B−1, or what the latent structure draws.
template <class T>
void Vae<T>::latent_forward(const T* x, const T* eps, int B, int K) {
  const size_t nz = static_cast<size_t>(B) * cfg_.latent;
  std::memcpy(acts_.data() + eps_, eps, sizeof(T) * nz * K);
  latent_->sample_forward(*this, x, B, K);
}

template <class T>
LossParts Vae<T>::forward_iw(const T* x, const T* eps, int B, int K, const int32_t* labels) {
  VAE_ASSERT(B >= 1 && B <= max_batch_ && K >= 1 && K <= max_samples_);
  const int D = cfg_.input_dim;
  const int period = labels ? B : 1;
  if (!labels) labels = &default_label_;
  T* A = acts_.data();
  encoder_forward(x, B, labels, period);
  latent_forward(x, eps, B, K);
  decoder_forward(K * B, labels, period);
  LossParts loss;
  for (int k = 0; k < K; ++k)
    loss.recon += recon_nll(A + logits_ + static_cast<size_t>(k) * B * D, x, B, &iw_recon_[k * B]);
  loss.recon /= K;
  loss.kl = latent_->iw_kl_forward(*this, iw_kl_.data(), B, K);

  // log w_k = −recon_k − KL̂_k;  L_K = −(m + log Σ_k e^{log w_k − m} − log K), m = max_k log w_k;
  // w̃_k = e^{log w_k − m} / Σ_j e^{log w_j − m}. All in double.
  iw_objective_ = 0;
  const double log_k = std::log(static_cast<double>(K));
  for (int b = 0; b < B; ++b) {
    double m = -std::numeric_limits<double>::infinity();
    for (int k = 0; k < K; ++k) {
      const int r = k * B + b;
      iw_weight_[r] = -static_cast<double>(iw_recon_[r]) - static_cast<double>(iw_kl_[r]);
      m = std::max(m, iw_weight_[r]);
    }
    double s = 0;
    for (int k = 0; k < K; ++k) {
      double& w = iw_weight_[k * B + b];
      w = std::exp(w - m);
      s += w;
    }
    for (int k = 0; k < K; ++k) iw_weight_[k * B + b] /= s;
    iw_objective_ += -(m + std::log(s) - log_k);
  }
  last_batch_ = B;
  last_samples_ = K;
  return loss;
}

template <class T>
void Vae<T>::iw_log_weights(double* log_w) const {
  VAE_ASSERT(last_samples_ > 0);
  for (int r = 0; r < last_samples_ * last_batch_; ++r)
    log_w[r] = -static_cast<double>(iw_recon_[r]) - static_cast<double>(iw_kl_[r]);
}

template <class T>
double Vae<T>::recon_nll(const T* out, const T* x, int B, T* rows) const {
  return likelihood_row(cfg_.likelihood).math<T>().nll_forward(
      rows, out, x, pdata() + lk_params_, static_cast<T>(cfg_.sigma), B, cfg_.input_dim);
}

template <class T>
void Vae<T>::loss_rows(const T* x, int B, T* recon_rows, T* kl_rows) const {
  VAE_ASSERT(B == last_batch_ && last_samples_ == 0);
  const T* A = acts_.data();
  recon_nll(A + logits_, x, B, recon_rows);
  latent_->kl_rows(*this, B, kl_rows);
}

// ---- Backward: forward's calls in reverse ---------------------------------------------------

template <class T>
void Vae<T>::share_params(Vae& owner) {
  VAE_ASSERT(&owner != this && owner.shared_ == nullptr &&
             owner.num_params() == num_params() && owner.config().to_json() == cfg_.to_json());
  shared_ = owner.params_.data();
  std::vector<T>().swap(params_);
}

template <class T>
void Vae<T>::share_params_read_only(const Vae& owner) {
  VAE_ASSERT(forward_only() && &owner != this && owner.num_params() == num_params() &&
             owner.config().to_json() == cfg_.to_json());
  shared_ = const_cast<T*>(owner.params());  // never written through: no backward, no optimiser
  std::vector<T>().swap(params_);
}

template <class T>
void Vae<T>::zero_grad() {
  VAE_ASSERT(!forward_only());
  std::fill(grads_.begin(), grads_.end(), T(0));
}

template <class T>
void Vae<T>::recon_backward(T* dout, const T* out, const T* x, T scale, int B) {
  likelihood_row(cfg_.likelihood).math<T>().nll_backward(
      dout, grads_.data() + lk_params_, out, x, pdata() + lk_params_, static_cast<T>(cfg_.sigma),
      scale, B, cfg_.input_dim);
}

// Through h = f(a), then the layer's kind: into its parameter gradients and the gradient of its
// input — the concatenated buffer when conditional, nothing when the input is x itself.
template <class T>
void Vae<T>::kind_backward(const Layer& l, const T* x, int rows) {
  const T* A = acts_.data();
  T* dA = dacts_.data();
  if (l.plan.act)
    activation_backward(dA + l.a, dA + l.h, A + l.a, A + l.h, rows * l.plan.out_size(),
                        cfg_.activation);
  T* din = l.in == kX ? nullptr : l.plan.cond ? dA + l.cat : dA + l.in;
  l.plan.spec.kind->template calls<T>().backward(din, grads_.data() + l.p, dA + l.a, A + l.saved,
                                                 input_of(l, x), pdata() + l.p, l.plan, rows,
                                                 layer_scratch_.data());
}

// [input, one-hot]: the first I columns of the concatenation's gradient go on to the input.
template <class T>
void Vae<T>::one_hot_backward(const Layer& l, int rows) {
  if (!l.plan.cond || l.in == kX) return;
  T* dA = dacts_.data();
  const size_t I = l.plan.in_size(), W = I + l.plan.cond;
  for (int r = 0; r < rows; ++r)
    for (size_t j = 0; j < I; ++j) dA[l.in + r * I + j] += dA[l.cat + r * W + j];
}

template <class T>
void Vae<T>::layer_backward(const Layer& l, const T* x, int rows) {
  if (l.plan.spec.kind->view) return;  // its gradient is its input's, same buffer
  kind_backward(l, x, rows);
  one_hot_backward(l, rows);
}

// The layers of a stack in reverse; with `final`, each layer's parameter gradient is reported
// final after its backward (a hook's slice).
template <class T>
void Vae<T>::stack_backward(const std::vector<Layer>& stack, const T* x, int rows, bool final) {
  for (size_t l = stack.size(); l-- > 0;) {
    layer_backward(stack[l], x, rows);
    if (final) layer_final(stack[l]);
  }
}

// Slice [lo, hi) of grads_ is final for this backward call: the next of backward_ranges_ (an
// empty slice is none), told to the hook if there is one.
template <class T>
void Vae<T>::gradient_final(size_t lo, size_t hi) {
  if (hi == lo) return;
  VAE_ASSERT(next_range_ < backward_ranges_.size() &&
             backward_ranges_[next_range_] == (GradRange{lo, hi}));
  if (hook_) hook_->gradient_ready(next_range_, backward_ranges_[next_range_]);
  ++next_range_;
}

template <class T>
double Vae<T>::backward(const T* x, int B, double beta, double free_bits, KlEstimator kl) {
  VAE_ASSERT(B == last_batch_ && !forward_only());
  next_range_ = 0;
  clear_activation_grads(B, std::max(last_samples_, 1));
  const T scale = T(1) / static_cast<T>(B);  // the one place the batch mean enters
  double objective;
  if (last_samples_ > 0) {
    VAE_ASSERT(beta == 1.0 && free_bits == 0.0 && kl == KlEstimator::Analytic);
    objective = iw_backward(x, B, scale);
  } else {
    objective = elbo_backward(x, B, scale, beta, free_bits, kl);
  }
  const bool final = !latent_->encoder_reused();  // else the prior's pass adds to them below
  heads_backward(x, B, final);
  stack_backward(enc_, x, B, final);
  latent_->prior_backward(*this);
  VAE_ASSERT(next_range_ == backward_ranges_.size());
  return objective;
}

// Activation gradients are scratch for this pass: cleared here, so parameter gradients
// accumulate across calls (micro-batches) while each pass starts from clean intermediates.
template <class T>
void Vae<T>::clear_activation_grads(int B, int K) {
  T* dA = dacts_.data();
  for (const Slot& s : act_slots_) {
    const size_t rows = s.rows == Rows::Batch     ? static_cast<size_t>(B)
                        : s.rows == Rows::Samples ? static_cast<size_t>(B) * K
                                                  : slot_rows(Rows::Pseudo);
    std::memset(dA + s.offset, 0, sizeof(T) * rows * s.width);
  }
}

// L_K = −log (1/K) Σ_k w_k:  ∂L_K/∂log w_k = −w̃_k, and log w_k = −recon_k − KL̂_k, so each
// sample row's recon and KL̂ gradients are those of the VAE scaled by w̃_k. Back to dμ and
// dlog σ²; returns L_K per example.
template <class T>
double Vae<T>::iw_backward(const T* x, int B, T scale) {
  const int D = cfg_.input_dim, K = last_samples_;
  const T* A = acts_.data();
  T* dA = dacts_.data();
  for (int r = 0; r < K * B; ++r) {
    const size_t row = static_cast<size_t>(r) * D;
    recon_backward(dA + logits_ + row, A + logits_ + row, x + static_cast<size_t>(r % B) * D,
                   static_cast<T>(scale * iw_weight_[r]), 1);
  }
  gradient_final(lk_params_, num_params_);
  stack_backward(dec_, nullptr, K * B, true);  // → dz
  latent_->iw_backward(*this, x, B, K, iw_weight_.data(), scale);
  return iw_objective_ / B;
}

// loss = mean over rows of [−log p(x | out) + β · KL-term(μ, log σ²)]: back to dμ and dlog σ²;
// returns the loss.
template <class T>
double Vae<T>::elbo_backward(const T* x, int B, T scale, double beta, double free_bits,
                             KlEstimator kl) {
  const T* A = acts_.data();
  T* dA = dacts_.data();
  recon_backward(dA + logits_, A + logits_, x, scale, B);
  gradient_final(lk_params_, num_params_);
  stack_backward(dec_, nullptr, B, true);  // → dz
  const double kl_objective = latent_->elbo_backward(*this, x, B, scale, beta, free_bits, kl);
  return last_recon_ / B + kl_objective;
}

// The heads: both add into the gradient of the encoder's features (x itself when there are no
// hidden layers: then no input gradient is needed), through the shared [h, one-hot] when
// conditional — so the concatenated gradient is passed on once, after both heads. With `final`
// each head's parameter gradient is reported final.
template <class T>
void Vae<T>::heads_backward(const T* x, int B, bool final) {
  kind_backward(mu_head_, x, B);
  if (final) layer_final(mu_head_);
  kind_backward(lv_head_, x, B);
  if (final) layer_final(lv_head_);
  one_hot_backward(mu_head_, B);
}

// ---- Inference ------------------------------------------------------------------------------

template <class T>
void Vae<T>::log_prior(const T* z, int n, T* logp) {
  VAE_ASSERT(n >= 1 && n <= max_batch_ * max_samples_);
  latent_->log_prior(*this, z, n, logp);
  last_batch_ = 0;
}

template <class T>
bool Vae<T>::gaussian_posterior() const {
  return latent_->gaussian_posterior();
}

template <class T>
void Vae<T>::sample_prior(T* z, size_t n, Rng& rng) {
  rng.normal_fill(z, n * cfg_.latent);  // ε (n, Z)
  latent_->sample_prior(*this, z, n, rng);
  last_batch_ = 0;
}

template <class T>
void Vae<T>::encode(const T* x, size_t n, T* mu, T* logvar, const int32_t* labels) {
  const int Z = cfg_.latent, D = cfg_.input_dim;
  for (size_t start = 0; start < n; start += max_batch_) {
    const int B = static_cast<int>(std::min<size_t>(max_batch_, n - start));
    if (labels)
      encoder_forward(x + start * D, B, labels + start, B);
    else
      encoder_forward(x + start * D, B, &default_label_, 1);
    latent_->encode(*this, x + start * D, B, mu + start * Z, logvar + start * Z);
  }
  last_batch_ = 0;
}

template <class T>
void Vae<T>::decode(const T* z, size_t n, T* out, const int32_t* labels) {
  const int Z = cfg_.latent, D = cfg_.input_dim;
  const size_t rows = static_cast<size_t>(max_batch_) * max_samples_;
  for (size_t start = 0; start < n; start += rows) {
    const int B = static_cast<int>(std::min<size_t>(rows, n - start));
    std::memcpy(acts_.data() + z_, z + start * Z, sizeof(T) * B * Z);
    if (labels)
      decoder_forward(B, labels + start, B);
    else
      decoder_forward(B, &default_label_, 1);
    likelihood_row(cfg_.likelihood).math<T>().mean_forward(out + start * D, acts_.data() + logits_,
                                                           static_cast<size_t>(B) * D);
  }
  last_batch_ = 0;
}

template <class T>
const T* Vae<T>::decode_logits(const T* z, int B, const int32_t* labels) {
  VAE_ASSERT(B >= 1 && B <= max_batch_ * max_samples_);
  std::memcpy(acts_.data() + z_, z, sizeof(T) * static_cast<size_t>(B) * cfg_.latent);
  if (labels)
    decoder_forward(B, labels, B);
  else
    decoder_forward(B, &default_label_, 1);
  last_batch_ = 0;
  return acts_.data() + logits_;
}

template class Vae<float>;
template class Vae<double>;

}  // namespace vae
