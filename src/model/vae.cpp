// The VAE's forward and backward call lists (math in include/vae/model.h and the headers of the
// functions called; the layer plan in src/model/config.cpp).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "model/likelihoods/likelihoods.h"
#include "model/plan.h"
#include "vae/conv.h"
#include "vae/error.h"
#include "vae/losses.h"
#include "vae/model.h"

namespace vae {

using Kind = LayerSpec::Kind;

// ---- Construction ---------------------------------------------------------------------------

template <class T>
ConvShape Vae<T>::Layer::conv(int rows) const {
  ConvShape s;
  s.N = rows;
  s.C_in = in_c;
  s.H = in_h;
  s.W = in_w;
  s.C_out = out_c;
  s.K = spec.kernel;
  s.S = spec.stride;
  s.P = spec.padding;
  s.OP = spec.output_padding;
  return s;
}

template <class T>
Vae<T>::Vae(const ModelConfig& cfg, int max_batch, int max_samples)
    : cfg_(cfg), max_batch_(max_batch), max_samples_(max_samples) {
  cfg_.validate();
  VAE_ASSERT(max_batch >= 1 && max_samples >= 1);
  const ModelPlan plan = plan_model(cfg_);
  table_ = param_table(cfg_);
  params_.assign(param_count(cfg_), T(0));
  grads_.assign(params_.size(), T(0));

  // Activation layout: every tensor is a (rows, width) block of acts_; encoder tensors have
  // max_batch rows, tensors from z on max_batch·max_samples (one row per importance sample).
  size_t act_size = 0;
  auto slot = [&](size_t width, bool sampled) {
    const size_t off = act_size;
    act_size += static_cast<size_t>(max_batch) * (sampled ? max_samples : 1) * width;
    act_slots_.push_back({off, width, sampled});
    return off;
  };
  size_t p = 0;  // walks table_ in order
  auto find = [&](const std::string& name) {
    VAE_ASSERT(p < table_.size() && table_[p].name == name);
    return table_[p++].offset;
  };
  size_t scratch = 0;
  auto build = [&](const std::vector<PlannedLayer>& planned, size_t in, bool sampled,
                   std::vector<Layer>& stack) {
    for (const PlannedLayer& pl : planned) {
      Layer l;
      l.spec = pl.spec;
      l.in_c = pl.in_c;
      l.in_h = pl.in_h;
      l.in_w = pl.in_w;
      l.out_c = pl.out_c;
      l.out_h = pl.out_h;
      l.out_w = pl.out_w;
      l.cond = pl.cond;
      l.act = pl.act;
      l.in = in;
      if (pl.spec.kind == Kind::Reshape) {
        l.a = l.h = in;  // the same values, read with the next layer's shape
      } else {
        l.w = find(pl.name + ".weight");
        l.b = find(pl.name + ".bias");
        if (l.cond) l.cat = slot(l.in_size() + l.cond, sampled);
        l.a = slot(l.out_size(), sampled);
        l.h = l.act ? slot(l.out_size(), sampled) : l.a;
        const int rows = max_batch * (sampled ? max_samples : 1);
        if (pl.spec.kind == Kind::Conv)
          scratch = std::max(scratch, conv2d_scratch_size(l.conv(rows)));
        if (pl.spec.kind == Kind::ConvTranspose)
          scratch = std::max(scratch, conv_transpose2d_scratch_size(l.conv(rows)));
      }
      in = l.h;
      stack.push_back(l);
    }
    return in;
  };
  const size_t features = build(plan.encoder, kX, false, enc_);
  for (Layer* head : {&mu_head_, &lv_head_}) {
    head->in_c = plan.features;
    head->out_c = cfg_.latent;
    head->cond = plan.head_cond;
    head->act = false;
    head->in = features;
  }
  mu_head_.w = find("encoder.mu.weight");
  mu_head_.b = find("encoder.mu.bias");
  lv_head_.w = find("encoder.logvar.weight");
  lv_head_.b = find("encoder.logvar.bias");
  if (plan.head_cond) lv_head_.cat = mu_head_.cat = slot(plan.features + plan.head_cond, false);
  mu_ = mu_head_.a = mu_head_.h = slot(cfg_.latent, false);
  logvar_ = lv_head_.a = lv_head_.h = slot(cfg_.latent, false);
  eps_ = slot(cfg_.latent, true);
  z_ = slot(cfg_.latent, true);
  logits_ = build(plan.decoder, z_, true, dec_);
  lk_params_ = p < table_.size() ? table_[p].offset : params_.size();  // the likelihood's own
  for (const LikelihoodParam& lp : likelihood_row(cfg_.likelihood).params) find(lp.name);
  VAE_ASSERT(p == table_.size());
  acts_.assign(act_size, T(0));
  dacts_.assign(act_size, T(0));
  conv_scratch_.assign(scratch, T(0));
  kl_weight_.assign(cfg_.latent, T(0));
  const size_t rows = static_cast<size_t>(max_batch) * max_samples;
  iw_weight_.assign(rows, 0.0);
  iw_recon_.assign(rows, T(0));
  iw_kl_.assign(rows, T(0));
}

template <class T>
void Vae<T>::init_params(Rng& rng) {
  // Weights are followed by their bias; both use the bound 1/√fan_in, fan_in = the product of
  // the weight's dimensions after the first (PyTorch's rule, for conv_transpose too).
  double bound = 0;
  for (const ParamInfo& p : table_) {
    if (p.offset >= lk_params_) break;  // the likelihood's own come last: set below
    T* w = pdata() + p.offset;
    if (p.shape.size() >= 2) {
      double fan_in = 1;
      for (size_t k = 1; k < p.shape.size(); ++k) fan_in *= static_cast<double>(p.shape[k]);
      bound = 1.0 / std::sqrt(fan_in);
    }
    for (size_t j = 0; j < p.numel; ++j) w[j] = static_cast<T>((2.0 * rng.uniform() - 1.0) * bound);
  }
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
  if (l.cond) return acts_.data() + l.cat;
  return l.in == kX ? x : acts_.data() + l.in;
}

template <class T>
void Vae<T>::layer_forward(const Layer& l, const T* x, int rows, const int32_t* labels, int period) {
  if (l.spec.kind == Kind::Reshape) return;
  T* A = acts_.data();
  const T* P = pdata();
  if (l.cond) {
    // [input, one-hot(label)] (rows, I + Y); row r's label is labels[r mod period], so the
    // K sample rows of an example share its label.
    const size_t I = l.in_size(), W = I + l.cond;
    const T* src = l.in == kX ? x : A + l.in;
    for (int r = 0; r < rows; ++r) {
      T* dst = A + l.cat + r * W;
      std::memcpy(dst, src + r * I, sizeof(T) * I);
      std::fill(dst + I, dst + W, T(0));
      const int32_t y = labels[r % period];
      VAE_ASSERT(y >= 0 && y < l.cond);
      dst[I + y] = T(1);
    }
  }
  const T* in = input_of(l, x);
  switch (l.spec.kind) {
    case Kind::Dense:
      linear_forward(A + l.a, in, P + l.w, P + l.b, rows, l.in_c + l.cond, l.out_c);
      break;
    case Kind::Conv:
      conv2d_forward(A + l.a, in, P + l.w, P + l.b, l.conv(rows), conv_scratch_.data());
      break;
    case Kind::ConvTranspose:
      conv_transpose2d_forward(A + l.a, in, P + l.w, P + l.b, l.conv(rows), conv_scratch_.data());
      break;
    case Kind::Reshape: break;
  }
  if (l.act) activation_forward(A + l.h, A + l.a, rows * l.out_size(), cfg_.activation);
}

template <class T>
void Vae<T>::encoder_forward(const T* x, int B, const int32_t* labels, int period) {
  for (const Layer& l : enc_) layer_forward(l, x, B, labels, period);
  layer_forward(mu_head_, x, B, labels, period);  // μ (B,Z); fills the shared [h, one-hot] if any
  const T* P = pdata();
  linear_forward(acts_.data() + logvar_, input_of(lv_head_, x), P + lv_head_.w, P + lv_head_.b, B,
                 lv_head_.in_c + lv_head_.cond, cfg_.latent);  // log σ² (B,Z)
}

template <class T>
void Vae<T>::decoder_forward(int rows, const int32_t* labels, int period) {
  for (const Layer& l : dec_) layer_forward(l, nullptr, rows, labels, period);
}

template <class T>
LossParts Vae<T>::forward(const T* x, const T* eps, int B, const int32_t* labels) {
  VAE_ASSERT(B >= 1 && B <= max_batch_);
  const int Z = cfg_.latent;
  const size_t nz = static_cast<size_t>(B) * Z;
  const int period = labels ? B : 1;
  if (!labels) labels = &default_label_;
  T* A = acts_.data();
  encoder_forward(x, B, labels, period);
  std::memcpy(A + eps_, eps, sizeof(T) * nz);                     // ε kept for backward
  reparam_forward(A + z_, A + mu_, A + logvar_, A + eps_, nz);     // z = μ + σ ⊙ ε
  decoder_forward(B, labels, period);
  last_batch_ = B;
  last_samples_ = 0;
  LossParts loss;
  loss.recon = last_recon_ = recon_nll(A + logits_, x, B, nullptr);
  loss.kl = gaussian_kl_forward<T>(nullptr, A + mu_, A + logvar_, B, Z);
  return loss;
}

template <class T>
LossParts Vae<T>::forward_iw(const T* x, const T* eps, int B, int K, const int32_t* labels) {
  VAE_ASSERT(B >= 1 && B <= max_batch_ && K >= 1 && K <= max_samples_);
  const int Z = cfg_.latent, D = cfg_.input_dim;
  const size_t nz = static_cast<size_t>(B) * Z;
  const int period = labels ? B : 1;
  if (!labels) labels = &default_label_;
  T* A = acts_.data();
  encoder_forward(x, B, labels, period);
  std::memcpy(A + eps_, eps, sizeof(T) * nz * K);
  for (int k = 0; k < K; ++k)  // z_k = μ + σ ⊙ ε_k, rows k·B .. k·B+B−1
    reparam_forward(A + z_ + k * nz, A + mu_, A + logvar_, A + eps_ + k * nz, nz);
  decoder_forward(K * B, labels, period);
  LossParts loss;
  for (int k = 0; k < K; ++k) {
    loss.recon += recon_nll(A + logits_ + static_cast<size_t>(k) * B * D, x, B, &iw_recon_[k * B]);
    gaussian_kl_sample_forward(&iw_kl_[k * B], A + z_ + k * nz, A + eps_ + k * nz, A + logvar_, B, Z);
  }
  loss.recon /= K;
  loss.kl = gaussian_kl_forward<T>(nullptr, A + mu_, A + logvar_, B, Z);

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
double Vae<T>::recon_nll(const T* out, const T* x, int B, T* rows) const {
  return likelihood_row(cfg_.likelihood).math<T>().nll_forward(
      rows, out, x, pdata() + lk_params_, static_cast<T>(cfg_.sigma), B, cfg_.input_dim);
}

template <class T>
void Vae<T>::loss_rows(const T* x, int B, T* recon_rows, T* kl_rows) const {
  VAE_ASSERT(B == last_batch_ && last_samples_ == 0);
  const T* A = acts_.data();
  recon_nll(A + logits_, x, B, recon_rows);
  gaussian_kl_forward<T>(kl_rows, A + mu_, A + logvar_, B, cfg_.latent);
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
void Vae<T>::zero_grad() {
  std::fill(grads_.begin(), grads_.end(), T(0));
}

template <class T>
void Vae<T>::recon_backward(T* dout, const T* out, const T* x, T scale, int B) {
  likelihood_row(cfg_.likelihood).math<T>().nll_backward(
      dout, grads_.data() + lk_params_, out, x, pdata() + lk_params_, static_cast<T>(cfg_.sigma),
      scale, B, cfg_.input_dim);
}

template <class T>
void Vae<T>::layer_backward(const Layer& l, const T* x, int rows) {
  if (l.spec.kind == Kind::Reshape) return;  // its gradient is its input's, same buffer
  const T* A = acts_.data();
  const T* P = pdata();
  T* dA = dacts_.data();
  T* G = grads_.data();
  if (l.act) activation_backward(dA + l.a, dA + l.h, A + l.a, A + l.h, rows * l.out_size(),
                                 cfg_.activation);
  // The input gradient goes to the concatenated buffer (then its first I columns on to the
  // input), or straight to the input; x itself needs none.
  const bool need_dx = l.in != kX;
  T* din = !need_dx ? nullptr : l.cond ? dA + l.cat : dA + l.in;
  const T* in = input_of(l, x);
  switch (l.spec.kind) {
    case Kind::Dense:
      linear_backward(din, G + l.w, G + l.b, dA + l.a, in, P + l.w, rows, l.in_c + l.cond, l.out_c);
      break;
    case Kind::Conv:
      conv2d_backward(din, G + l.w, G + l.b, dA + l.a, in, P + l.w, l.conv(rows),
                      conv_scratch_.data());
      break;
    case Kind::ConvTranspose:
      conv_transpose2d_backward(din, G + l.w, G + l.b, dA + l.a, in, P + l.w, l.conv(rows),
                                conv_scratch_.data());
      break;
    case Kind::Reshape: break;
  }
  if (l.cond && need_dx) {
    const size_t I = l.in_size(), W = I + l.cond;
    for (int r = 0; r < rows; ++r)
      for (size_t j = 0; j < I; ++j) dA[l.in + r * I + j] += dA[l.cat + r * W + j];
  }
}

template <class T>
double Vae<T>::backward(const T* x, int B, double beta, double free_bits, KlEstimator kl) {
  VAE_ASSERT(B == last_batch_);
  const int Z = cfg_.latent, D = cfg_.input_dim;
  const int K = std::max(last_samples_, 1);
  const size_t nz = static_cast<size_t>(B) * Z;
  const T scale = T(1) / static_cast<T>(B);  // the one place the batch mean enters
  const T* A = acts_.data();
  T* dA = dacts_.data();

  // Activation gradients are scratch for this pass: cleared here, so parameter gradients
  // accumulate across calls (micro-batches) while each pass starts from clean intermediates.
  for (const Slot& s : act_slots_)
    std::memset(dA + s.offset, 0, sizeof(T) * static_cast<size_t>(B) * (s.sampled ? K : 1) * s.width);

  double objective;
  if (last_samples_ > 0) {
    // L_K = −log (1/K) Σ_k w_k:  ∂L_K/∂log w_k = −w̃_k, and log w_k = −recon_k − KL̂_k, so each
    // sample row's recon and KL̂ gradients are those of the VAE scaled by w̃_k.
    VAE_ASSERT(beta == 1.0 && free_bits == 0.0 && kl == KlEstimator::Analytic);
    for (int r = 0; r < K * B; ++r) {
      const size_t row = static_cast<size_t>(r) * D;
      recon_backward(dA + logits_ + row, A + logits_ + row, x + static_cast<size_t>(r % B) * D,
                     static_cast<T>(scale * iw_weight_[r]), 1);
    }
    for (size_t l = dec_.size(); l-- > 0;) layer_backward(dec_[l], nullptr, K * B);
    for (int r = 0; r < K * B; ++r)
      gaussian_kl_sample_backward(dA + z_ + static_cast<size_t>(r) * Z,
                                  dA + logvar_ + static_cast<size_t>(r % B) * Z,
                                  A + z_ + static_cast<size_t>(r) * Z,
                                  static_cast<T>(scale * iw_weight_[r]), Z);
    for (int k = 0; k < K; ++k)
      reparam_backward(dA + mu_, dA + logvar_, dA + z_ + k * nz, A + logvar_, A + eps_ + k * nz, nz);
    objective = iw_objective_ / B;
  } else {
    // loss = mean over rows of [−log p(x | out) + β · KL-term(μ, log σ²)]
    recon_backward(dA + logits_, A + logits_, x, scale, B);
    for (size_t l = dec_.size(); l-- > 0;) layer_backward(dec_[l], nullptr, B);  // → dz
    // the KL term adds into dz (sampled estimate) or straight into dμ and dlog σ²
    double kl_objective;
    if (kl == KlEstimator::Sample) {
      VAE_ASSERT(free_bits == 0.0);
      kl_objective =
          beta * gaussian_kl_sample_forward<T>(nullptr, A + z_, A + eps_, A + logvar_, B, Z) / B;
      gaussian_kl_sample_backward(dA + z_, dA + logvar_, A + z_, static_cast<T>(beta) * scale, nz);
    } else if (free_bits > 0) {
      kl_objective = beta * free_bits_weights(kl_weight_.data(), A + mu_, A + logvar_, B, Z, beta,
                                              free_bits);
      gaussian_kl_backward_weighted(dA + mu_, dA + logvar_, A + mu_, A + logvar_, kl_weight_.data(),
                                    scale, B, Z);
    } else {
      kl_objective = beta * gaussian_kl_forward<T>(nullptr, A + mu_, A + logvar_, B, Z) / B;
      gaussian_kl_backward(dA + mu_, dA + logvar_, A + mu_, A + logvar_,
                           static_cast<T>(beta) * scale, nz);
    }
    // z = μ + σ ⊙ ε: dz flows into dμ and dlog σ²
    reparam_backward(dA + mu_, dA + logvar_, dA + z_, A + logvar_, A + eps_, nz);
    objective = last_recon_ / B + kl_objective;
  }

  // heads: both add into the gradient of the encoder's features (x itself when there are no
  // hidden layers: then no input gradient is needed), through the shared [h, one-hot] when
  // conditional — so the concatenated gradient is passed on once, after both heads.
  {
    const T* P = pdata();
    T* G = grads_.data();
    const Layer& h = mu_head_;
    const bool need_dx = h.in != kX;
    T* din = !need_dx ? nullptr : h.cond ? dA + h.cat : dA + h.in;
    const T* in = input_of(h, x);
    const int I = h.in_c + h.cond;
    linear_backward(din, G + mu_head_.w, G + mu_head_.b, dA + mu_, in, P + mu_head_.w, B, I, Z);
    linear_backward(din, G + lv_head_.w, G + lv_head_.b, dA + logvar_, in, P + lv_head_.w, B, I, Z);
    if (h.cond && need_dx) {
      const size_t F = h.in_c, W = F + h.cond;
      for (int r = 0; r < B; ++r)
        for (size_t j = 0; j < F; ++j) dA[h.in + r * F + j] += dA[h.cat + r * W + j];
    }
  }
  for (size_t l = enc_.size(); l-- > 0;) layer_backward(enc_[l], x, B);
  return objective;
}

// ---- Inference ------------------------------------------------------------------------------

template <class T>
void Vae<T>::encode(const T* x, size_t n, T* mu, T* logvar, const int32_t* labels) {
  const int Z = cfg_.latent, D = cfg_.input_dim;
  for (size_t start = 0; start < n; start += max_batch_) {
    const int B = static_cast<int>(std::min<size_t>(max_batch_, n - start));
    if (labels)
      encoder_forward(x + start * D, B, labels + start, B);
    else
      encoder_forward(x + start * D, B, &default_label_, 1);
    std::memcpy(mu + start * Z, acts_.data() + mu_, sizeof(T) * B * Z);
    std::memcpy(logvar + start * Z, acts_.data() + logvar_, sizeof(T) * B * Z);
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
