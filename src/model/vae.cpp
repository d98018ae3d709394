// The VAE's forward and backward call lists (math in include/vae/model.h and the headers of the
// functions called).
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <algorithm>

#include "vae/error.h"
#include "vae/losses.h"
#include "vae/model.h"

namespace vae {

// ---- Configuration --------------------------------------------------------------------------

void ModelConfig::validate() const {
  if (input_dim < 1) throw Error("input_dim: must be >= 1, got " + std::to_string(input_dim));
  for (int h : hidden)
    if (h < 1 || h > (1 << 16))
      throw Error("--hidden: each width must be in 1..65536, got " + std::to_string(h));
  if (latent < 1 || latent > (1 << 14))
    throw Error("--latent: must be in 1..16384, got " + std::to_string(latent));
  if (likelihood != "bernoulli" && likelihood != "gaussian")
    throw Error("--likelihood: must be 'bernoulli' or 'gaussian', got '" + likelihood + "'");
  if (!(sigma > 0) || !std::isfinite(sigma))
    throw Error("--sigma: must be a positive number");
  if (channels > 0 && static_cast<long>(height) * width * channels != input_dim)
    throw Error("image geometry " + std::to_string(height) + "x" + std::to_string(width) + "x" +
                std::to_string(channels) + " does not match input_dim " + std::to_string(input_dim));
}

std::string ModelConfig::to_json() const {
  nlohmann::json j = {{"input_dim", input_dim}, {"hidden", hidden},
                      {"latent", latent},       {"activation", activation_name(activation)},
                      {"likelihood", likelihood}, {"sigma", sigma},
                      {"height", height},
                      {"width", width},         {"channels", channels},
                      {"decoder", "mirror"},    {"posterior", "diagonal_gaussian"},
                      {"prior", "standard_normal"}};
  return j.dump();
}

ModelConfig ModelConfig::from_json(const std::string& text, const std::string& origin) {
  ModelConfig c;
  try {
    const auto j = nlohmann::json::parse(text);
    c.input_dim = j.at("input_dim").get<int>();
    c.hidden = j.at("hidden").get<std::vector<int>>();
    c.latent = j.at("latent").get<int>();
    c.activation = parse_activation(j.at("activation").get<std::string>());
    c.likelihood = j.at("likelihood").get<std::string>();
    c.sigma = j.value("sigma", 1.0);
    c.height = j.at("height").get<int>();
    c.width = j.at("width").get<int>();
    c.channels = j.at("channels").get<int>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(origin + ": malformed model config (" + e.what() + ")");
  } catch (const Error& e) {
    throw Error(origin + ": model config: " + e.what());
  }
  try {
    c.validate();
  } catch (const Error& e) {
    throw Error(origin + ": model config: " + e.what());
  }
  return c;
}

std::vector<ParamInfo> param_table(const ModelConfig& cfg) {
  std::vector<ParamInfo> t;
  size_t offset = 0;
  auto add_linear = [&](const std::string& prefix, int in, int out) {
    t.push_back({prefix + ".weight", {out, in}, offset, static_cast<size_t>(out) * in});
    offset += t.back().numel;
    t.push_back({prefix + ".bias", {out}, offset, static_cast<size_t>(out)});
    offset += t.back().numel;
  };
  int in = cfg.input_dim;
  for (size_t l = 0; l < cfg.hidden.size(); ++l) {
    add_linear("encoder." + std::to_string(l), in, cfg.hidden[l]);
    in = cfg.hidden[l];
  }
  add_linear("encoder.mu", in, cfg.latent);
  add_linear("encoder.logvar", in, cfg.latent);
  in = cfg.latent;
  for (size_t l = 0; l < cfg.hidden.size(); ++l) {
    const int out = cfg.hidden[cfg.hidden.size() - 1 - l];
    add_linear("decoder." + std::to_string(l), in, out);
    in = out;
  }
  add_linear("decoder.out", in, cfg.input_dim);
  return t;
}

size_t param_count(const ModelConfig& cfg) {
  const auto t = param_table(cfg);
  return t.back().offset + t.back().numel;
}

// ---- Construction ---------------------------------------------------------------------------

template <class T>
Vae<T>::Vae(const ModelConfig& cfg, int max_batch) : cfg_(cfg), max_batch_(max_batch) {
  cfg_.validate();
  VAE_ASSERT(max_batch >= 1);
  gaussian_ = cfg_.likelihood == "gaussian";
  table_ = param_table(cfg_);
  params_.assign(param_count(cfg_), T(0));
  grads_.assign(params_.size(), T(0));

  // Activation layout: every tensor is a (max_batch, width) block of acts_.
  size_t act_size = 0;
  auto slot = [&](int width) {
    const size_t off = act_size;
    act_size += static_cast<size_t>(max_batch) * width;
    act_slots_.push_back({off, width});
    return off;
  };
  size_t p = 0;  // walks table_ in order: weight, bias per linear map
  auto next_linear = [&](size_t& w, size_t& b) {
    w = table_[p].offset;
    b = table_[p + 1].offset;
    p += 2;
  };
  int in = cfg_.input_dim;
  for (int width : cfg_.hidden) {
    LayerSlots s;
    s.in = in;
    s.out = width;
    next_linear(s.w, s.b);
    s.a = slot(width);
    s.h = slot(width);
    enc_.push_back(s);
    in = width;
  }
  next_linear(mu_w_, mu_b_);
  next_linear(lv_w_, lv_b_);
  mu_ = slot(cfg_.latent);
  logvar_ = slot(cfg_.latent);
  eps_ = slot(cfg_.latent);
  z_ = slot(cfg_.latent);
  in = cfg_.latent;
  for (size_t l = 0; l < cfg_.hidden.size(); ++l) {
    LayerSlots s;
    s.in = in;
    s.out = cfg_.hidden[cfg_.hidden.size() - 1 - l];
    next_linear(s.w, s.b);
    s.a = slot(s.out);
    s.h = slot(s.out);
    dec_.push_back(s);
    in = s.out;
  }
  next_linear(out_w_, out_b_);
  logits_ = slot(cfg_.input_dim);
  VAE_ASSERT(p == table_.size());
  acts_.assign(act_size, T(0));
  dacts_.assign(act_size, T(0));
  kl_weight_.assign(cfg_.latent, T(0));
}

template <class T>
void Vae<T>::init_params(Rng& rng) {
  // table_ holds (weight (O,I), bias (O)) pairs; both use the bound 1/√I.
  for (size_t i = 0; i + 1 < table_.size(); i += 2) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(table_[i].shape[1]));
    for (size_t k : {i, i + 1}) {
      T* w = params_.data() + table_[k].offset;
      for (size_t j = 0; j < table_[k].numel; ++j)
        w[j] = static_cast<T>((2.0 * rng.uniform() - 1.0) * bound);
    }
  }
}

// ---- Forward --------------------------------------------------------------------------------

template <class T>
void Vae<T>::encoder_forward(const T* x, int B) {
  T* A = acts_.data();
  const T* P = params_.data();
  const T* h = x;  // (B, I) input of the current layer
  for (const LayerSlots& s : enc_) {
    linear_forward(A + s.a, h, P + s.w, P + s.b, B, s.in, s.out);          // a = h Wᵀ + b
    activation_forward(A + s.h, A + s.a, static_cast<size_t>(B) * s.out, cfg_.activation);
    h = A + s.h;
  }
  const int H = enc_.empty() ? cfg_.input_dim : enc_.back().out;
  linear_forward(A + mu_, h, P + mu_w_, P + mu_b_, B, H, cfg_.latent);      // μ (B,Z)
  linear_forward(A + logvar_, h, P + lv_w_, P + lv_b_, B, H, cfg_.latent);  // log σ² (B,Z)
}

template <class T>
void Vae<T>::decoder_forward(int B) {
  T* A = acts_.data();
  const T* P = params_.data();
  const T* h = A + z_;  // (B, Z)
  for (const LayerSlots& s : dec_) {
    linear_forward(A + s.a, h, P + s.w, P + s.b, B, s.in, s.out);
    activation_forward(A + s.h, A + s.a, static_cast<size_t>(B) * s.out, cfg_.activation);
    h = A + s.h;
  }
  const int H = dec_.empty() ? cfg_.latent : dec_.back().out;
  linear_forward(A + logits_, h, P + out_w_, P + out_b_, B, H, cfg_.input_dim);
}

template <class T>
LossParts Vae<T>::forward(const T* x, const T* eps, int B) {
  VAE_ASSERT(B >= 1 && B <= max_batch_);
  const int Z = cfg_.latent;
  const size_t nz = static_cast<size_t>(B) * Z;
  T* A = acts_.data();
  encoder_forward(x, B);
  std::memcpy(A + eps_, eps, sizeof(T) * nz);                        // ε kept for backward
  reparam_forward(A + z_, A + mu_, A + logvar_, A + eps_, nz);        // z = μ + σ ⊙ ε
  decoder_forward(B);
  last_batch_ = B;
  LossParts loss;
  loss.recon = recon_nll(A + logits_, x, B, nullptr);
  loss.kl = gaussian_kl_forward<T>(nullptr, A + mu_, A + logvar_, B, Z);
  return loss;
}

template <class T>
double Vae<T>::recon_nll(const T* out, const T* x, int B, T* rows) const {
  if (cfg_.likelihood == "gaussian")
    return gaussian_nll_forward<T>(rows, out, x, static_cast<T>(cfg_.sigma), B, cfg_.input_dim);
  return bernoulli_nll_forward<T>(rows, out, x, B, cfg_.input_dim);
}

template <class T>
void Vae<T>::loss_rows(const T* x, int B, T* recon_rows, T* kl_rows) const {
  VAE_ASSERT(B == last_batch_);
  const T* A = acts_.data();
  recon_nll(A + logits_, x, B, recon_rows);
  gaussian_kl_forward<T>(kl_rows, A + mu_, A + logvar_, B, cfg_.latent);
}

// ---- Backward: forward's calls in reverse ---------------------------------------------------

template <class T>
void Vae<T>::zero_grad() {
  std::fill(grads_.begin(), grads_.end(), T(0));
}

template <class T>
double Vae<T>::backward(const T* x, int B, double beta, double free_bits) {
  VAE_ASSERT(B == last_batch_);
  const int Z = cfg_.latent, D = cfg_.input_dim;
  const size_t nz = static_cast<size_t>(B) * Z;
  const T scale = T(1) / static_cast<T>(B);  // the one place the batch mean enters
  const T* A = acts_.data();
  const T* P = params_.data();
  T* dA = dacts_.data();
  T* G = grads_.data();

  // Activation gradients are scratch for this pass: cleared here, so parameter gradients
  // accumulate across calls (micro-batches) while each pass starts from clean intermediates.
  for (const auto& [offset, width] : act_slots_)
    std::memset(dA + offset, 0, sizeof(T) * static_cast<size_t>(B) * width);

  // loss = mean over rows of [−log p(x | out) + kl(μ, log σ²)]
  const size_t nx = static_cast<size_t>(B) * D;
  if (gaussian_)
    gaussian_nll_backward(dA + logits_, A + logits_, x, static_cast<T>(cfg_.sigma), scale, nx);
  else
    bernoulli_nll_backward(dA + logits_, A + logits_, x, scale, nx);

  // decoder, last layer first; the input of the output layer (and of decoder layer 0) is z
  const size_t out_in = dec_.empty() ? z_ : dec_.back().h;
  const int H_out = dec_.empty() ? Z : dec_.back().out;
  linear_backward(dA + out_in, G + out_w_, G + out_b_, dA + logits_, A + out_in, P + out_w_, B,
                  H_out, D);
  for (size_t l = dec_.size(); l-- > 0;) {
    const LayerSlots& s = dec_[l];
    activation_backward(dA + s.a, dA + s.h, A + s.a, A + s.h, static_cast<size_t>(B) * s.out,
                        cfg_.activation);
    const size_t in = l == 0 ? z_ : dec_[l - 1].h;
    linear_backward(dA + in, G + s.w, G + s.b, dA + s.a, A + in, P + s.w, B, s.in, s.out);
  }

  // z = μ + σ ⊙ ε, then the KL term: both add into dμ and dlog σ²
  reparam_backward(dA + mu_, dA + logvar_, dA + z_, A + logvar_, A + eps_, nz);
  double kl_objective;
  if (free_bits > 0) {
    kl_objective = beta * free_bits_weights(kl_weight_.data(), A + mu_, A + logvar_, B, Z, beta,
                                            free_bits);
    gaussian_kl_backward_weighted(dA + mu_, dA + logvar_, A + mu_, A + logvar_, kl_weight_.data(),
                                  scale, B, Z);
  } else {
    kl_objective = beta * gaussian_kl_forward<T>(nullptr, A + mu_, A + logvar_, B, Z) / B;
    gaussian_kl_backward(dA + mu_, dA + logvar_, A + mu_, A + logvar_, static_cast<T>(beta) * scale,
                         nz);
  }

  // heads: both add into the gradient of the last encoder output (x itself when there are no
  // hidden layers: then no input gradient is needed)
  const bool linear = enc_.empty();
  const int H = linear ? cfg_.input_dim : enc_.back().out;
  T* dtop = linear ? nullptr : dA + enc_.back().h;
  const T* top = linear ? x : A + enc_.back().h;
  linear_backward(dtop, G + mu_w_, G + mu_b_, dA + mu_, top, P + mu_w_, B, H, Z);
  linear_backward(dtop, G + lv_w_, G + lv_b_, dA + logvar_, top, P + lv_w_, B, H, Z);

  // encoder, last layer first; layer 0's input is x, which needs no gradient
  for (size_t l = enc_.size(); l-- > 0;) {
    const LayerSlots& s = enc_[l];
    activation_backward(dA + s.a, dA + s.h, A + s.a, A + s.h, static_cast<size_t>(B) * s.out,
                        cfg_.activation);
    T* dx = l == 0 ? nullptr : dA + enc_[l - 1].h;
    const T* xin = l == 0 ? x : A + enc_[l - 1].h;
    linear_backward(dx, G + s.w, G + s.b, dA + s.a, xin, P + s.w, B, s.in, s.out);
  }
  return kl_objective;
}

// ---- Inference ------------------------------------------------------------------------------

template <class T>
void Vae<T>::encode(const T* x, size_t n, T* mu, T* logvar) {
  const int Z = cfg_.latent, D = cfg_.input_dim;
  for (size_t start = 0; start < n; start += max_batch_) {
    const int B = static_cast<int>(std::min<size_t>(max_batch_, n - start));
    encoder_forward(x + start * D, B);
    std::memcpy(mu + start * Z, acts_.data() + mu_, sizeof(T) * B * Z);
    std::memcpy(logvar + start * Z, acts_.data() + logvar_, sizeof(T) * B * Z);
  }
  last_batch_ = 0;
}

template <class T>
void Vae<T>::decode(const T* z, size_t n, T* out) {
  const int Z = cfg_.latent, D = cfg_.input_dim;
  for (size_t start = 0; start < n; start += max_batch_) {
    const int B = static_cast<int>(std::min<size_t>(max_batch_, n - start));
    std::memcpy(acts_.data() + z_, z + start * Z, sizeof(T) * B * Z);
    decoder_forward(B);
    if (gaussian_)
      std::memcpy(out + start * D, acts_.data() + logits_, sizeof(T) * B * D);
    else
      sigmoid_forward(out + start * D, acts_.data() + logits_, static_cast<size_t>(B) * D);
  }
  last_batch_ = 0;
}

template <class T>
const T* Vae<T>::decode_logits(const T* z, int B) {
  VAE_ASSERT(B >= 1 && B <= max_batch_);
  std::memcpy(acts_.data() + z_, z, sizeof(T) * static_cast<size_t>(B) * cfg_.latent);
  decoder_forward(B);
  last_batch_ = 0;
  return acts_.data() + logits_;
}

template class Vae<float>;
template class Vae<double>;

}  // namespace vae
