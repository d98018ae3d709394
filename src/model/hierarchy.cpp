// The hierarchical VAE (model/hierarchy.h): its checks, its math, and the model's calls for its
// two stochastic layers — Vae members beside the single layer's in src/model/vae.cpp, which
// calls them where the model has a hierarchy (hier_).
#include "model/hierarchy.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/losses.h"
#include "model/plan.h"
#include "model/priors/priors.h"
#include "model/priors/vamp.h"
#include "nn/layers/layer.h"
#include "vae/error.h"

namespace vae {

namespace {

constexpr double kLog2Pi = 1.8378770664093454835606594728112;  // log 2π

// out row r = [a row (r mod a_period), b row r]: (rows, wa + wb) from (·, wa) and (rows, wb).
template <class T>
void join_rows(T* out, const T* a, size_t wa, int a_period, const T* b, size_t wb, int rows) {
  for (int r = 0; r < rows; ++r) {
    T* o = out + static_cast<size_t>(r) * (wa + wb);
    std::memcpy(o, a + static_cast<size_t>(r % a_period) * wa, sizeof(T) * wa);
    std::memcpy(o + wa, b + static_cast<size_t>(r) * wb, sizeof(T) * wb);
  }
}

// The last wb columns of each row of in (rows, skip + wb) into b (rows, wb): b = or += them.
template <class T>
void take_columns(T* b, const T* in, size_t skip, size_t wb, int rows, bool add) {
  for (int r = 0; r < rows; ++r) {
    const T* src = in + static_cast<size_t>(r) * (skip + wb) + skip;
    T* dst = b + static_cast<size_t>(r) * wb;
    for (size_t j = 0; j < wb; ++j) dst[j] = add ? dst[j] + src[j] : src[j];
  }
}

}  // namespace

void validate_hierarchy(const ModelConfig& cfg) {
  if (cfg.top_latent == 0) return;
  if (cfg.top_latent < 0 || cfg.top_latent >= cfg.latent)
    throw FieldError("top_latent", "must be in 0.." + std::to_string(cfg.latent - 1) +
                                       " (z1 keeps latent - top_latent values), got " +
                                       std::to_string(cfg.top_latent));
  if (cfg.prior != Prior::Standard)
    throw FieldError("top_latent", std::string("a two-layer model takes the standard prior on "
                                               "z2, not '") +
                                       prior_name(cfg.prior) + "'");
  if (cfg.num_classes > 0)
    throw FieldError("top_latent", "a two-layer model must be unconditional (num_classes 0)");
}

std::string hierarchy_description(const ModelConfig& cfg) {
  if (cfg.top_latent == 0) return "";
  return ", two layers z1 " + std::to_string(cfg.latent - cfg.top_latent) + " + z2 " +
         std::to_string(cfg.top_latent);
}

// ---- Math -----------------------------------------------------------------------------------

template <class T>
double gaussian_pair_kl_forward(T* kl_rows, const T* qmu, const T* qlogvar, const T* pmu,
                                const T* plogvar, int rows, int Z) {
  double total = 0;
  for (int r = 0; r < rows; ++r) {
    double row = 0;
    for (int j = 0; j < Z; ++j) {
      const size_t i = static_cast<size_t>(r) * Z + j;
      const double d = static_cast<double>(qmu[i]) - pmu[i];
      row += 0.5 * (plogvar[i] - static_cast<double>(qlogvar[i]) +
                    (std::exp(static_cast<double>(qlogvar[i])) + d * d) *
                        std::exp(-static_cast<double>(plogvar[i])) -
                    1.0);
    }
    if (kl_rows) kl_rows[r] = static_cast<T>(row);
    total += row;
  }
  return total;
}

template <class T>
void gaussian_pair_kl_backward(T* dqmu, T* dqlogvar, T* dpmu, T* dplogvar, const T* qmu,
                               const T* qlogvar, const T* pmu, const T* plogvar, T scale,
                               size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const T inv_p = std::exp(-plogvar[i]), var_q = std::exp(qlogvar[i]);  // 1/σ²_p, σ²_q
    const T d = qmu[i] - pmu[i];
    dqmu[i] += scale * d * inv_p;
    dpmu[i] -= scale * d * inv_p;
    dqlogvar[i] += scale * T(0.5) * (var_q * inv_p - T(1));
    dplogvar[i] += scale * T(0.5) * (T(1) - (var_q + d * d) * inv_p);
  }
}

template <class T>
double gaussian_ratio_sample_forward(T* kl_rows, const T* z, const T* eps, const T* qlogvar,
                                     const T* pmu, const T* plogvar, int rows, int Z) {
  double total = 0;
  for (int r = 0; r < rows; ++r) {
    double row = 0;
    for (int j = 0; j < Z; ++j) {
      const size_t i = static_cast<size_t>(r) * Z + j;
      const double d = static_cast<double>(z[i]) - pmu[i], e = eps[i];
      row += 0.5 * (plogvar[i] + d * d * std::exp(-static_cast<double>(plogvar[i])) -
                    qlogvar[i] - e * e);
    }
    if (kl_rows) kl_rows[r] = static_cast<T>(row);
    total += row;
  }
  return total;
}

template <class T>
void gaussian_ratio_sample_backward(T* dz, T* dqlogvar, T* dpmu, T* dplogvar, const T* z,
                                    const T* pmu, const T* plogvar, T scale, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const T inv_p = std::exp(-plogvar[i]);
    const T d = z[i] - pmu[i];
    dz[i] += scale * d * inv_p;
    dpmu[i] -= scale * d * inv_p;
    dplogvar[i] += scale * T(0.5) * (T(1) - d * d * inv_p);
    dqlogvar[i] -= scale * T(0.5);
  }
}

template <class T>
double gaussian_log_density(const T* z, const T* mu, const T* logvar, int Z) {
  double s = 0;
  for (int j = 0; j < Z; ++j) {
    const double d = static_cast<double>(z[j]) - mu[j];
    s += kLog2Pi + logvar[j] + d * d * std::exp(-static_cast<double>(logvar[j]));
  }
  return -0.5 * s;
}

// ---- The model's calls ----------------------------------------------------------------------

// The sample-row tensors after the heads of q(z₂|x): ε₁, ε₂, z₂, [x, z₂], the stack and heads
// of q(z₁|x, z₂), z₁, and the stack and heads of p(z₁|z₂).
template <class T>
void Vae<T>::place_hierarchy(const ModelPlan& plan) {
  hier_ = true;
  z2_width_ = cfg_.top_latent;
  z1_width_ = cfg_.latent - cfg_.top_latent;
  eps1_ = add_slot(z1_width_, Rows::Samples);
  eps2_ = add_slot(z2_width_, Rows::Samples);
  z2_ = add_slot(z2_width_, Rows::Samples);
  xz2_ = add_slot(static_cast<size_t>(cfg_.input_dim) + z2_width_, Rows::Samples);
  const size_t q_features = place_stack(plan.q1, xz2_, Rows::Samples, q1_stack_);
  place_heads(plan.q1_mu, plan.q1_logvar, q_features, Rows::Samples, q1_mu_, q1_lv_);
  qmu1_ = q1_mu_.a;
  qlv1_ = q1_lv_.a;
  z1_ = add_slot(z1_width_, Rows::Samples);
  const size_t p_features = place_stack(plan.p1, z2_, Rows::Samples, p1_stack_);
  place_heads(plan.p1_mu, plan.p1_logvar, p_features, Rows::Samples, p1_mu_, p1_lv_);
  pmu1_ = p1_mu_.a;
  plv1_ = p1_lv_.a;
}

// A stack and its μ, log σ² heads on `rows` rows of the tensor its first layer reads.
template <class T>
void Vae<T>::gaussian_stack_forward(const std::vector<Layer>& stack, const Layer& mu, const Layer& lv,
                           int rows) {
  for (const Layer& l : stack) layer_forward(l, nullptr, rows, &default_label_, 1);
  layer_forward(mu, nullptr, rows, &default_label_, 1);
  kind_forward(lv, nullptr, rows);
}

// gaussian_stack_forward in reverse: from the heads' gradients into the parameters' and the input's.
template <class T>
void Vae<T>::gaussian_stack_backward(const std::vector<Layer>& stack, const Layer& mu, const Layer& lv,
                            int rows) {
  kind_backward(mu, nullptr, rows);
  layer_final(mu);
  kind_backward(lv, nullptr, rows);
  layer_final(lv);
  stack_backward(stack, nullptr, rows, true);
}

// z (R, Z) from ε (R, Z, at eps_) after the encoder's pass on x (B, D), R = K·B:
// z₂ = μ₂ + σ₂ ⊙ ε₂, q(z₁|x, z₂) on [x, z₂], z₁ = μ_q + σ_q ⊙ ε₁, p(z₁|z₂) on z₂, z = [z₁, z₂].
template <class T>
void Vae<T>::hier_latent_forward(const T* x, int B, int K) {
  const int R = K * B, Z1 = z1_width_, Z2 = z2_width_;
  const size_t n2 = static_cast<size_t>(B) * Z2;
  T* A = acts_.data();
  for (int r = 0; r < R; ++r) {  // ε = [ε₁, ε₂]
    const T* e = A + eps_ + static_cast<size_t>(r) * (Z1 + Z2);
    std::memcpy(A + eps1_ + static_cast<size_t>(r) * Z1, e, sizeof(T) * Z1);
    std::memcpy(A + eps2_ + static_cast<size_t>(r) * Z2, e + Z1, sizeof(T) * Z2);
  }
  for (int k = 0; k < K; ++k)
    reparam_forward(A + z2_ + k * n2, A + mu_, A + logvar_, A + eps2_ + k * n2, n2);
  join_rows(A + xz2_, x, cfg_.input_dim, B, A + z2_, Z2, R);
  gaussian_stack_forward(q1_stack_, q1_mu_, q1_lv_, R);
  reparam_forward(A + z1_, A + qmu1_, A + qlv1_, A + eps1_, static_cast<size_t>(R) * Z1);
  gaussian_stack_forward(p1_stack_, p1_mu_, p1_lv_, R);
  join_rows(A + z_, A + z1_, Z1, R, A + z2_, Z2, R);
}

// KL(q(z₂|x) ‖ N(0, I)) + KL(q(z₁|x, z₂) ‖ p(z₁|z₂)) of each of `rows` sample rows into kl_rows
// (rows) when non-null; returns the sum.
template <class T>
double Vae<T>::hier_kl_forward(T* kl_rows, int B, int rows) const {
  const int Z1 = z1_width_, Z2 = z2_width_;
  const T* A = acts_.data();
  double total = 0;
  for (int r = 0; r < rows; ++r) {
    const size_t b2 = static_cast<size_t>(r % B) * Z2, r1 = static_cast<size_t>(r) * Z1;
    const double kl = gaussian_kl_forward<T>(nullptr, A + mu_ + b2, A + logvar_ + b2, 1, Z2) +
                      gaussian_pair_kl_forward<T>(nullptr, A + qmu1_ + r1, A + qlv1_ + r1,
                                                  A + pmu1_ + r1, A + plv1_ + r1, 1, Z1);
    if (kl_rows) kl_rows[r] = static_cast<T>(kl);
    total += kl;
  }
  return total;
}

// log q(z₁, z₂|x) − log p(z₁, z₂) at each of `rows` sample rows into kl_rows (rows).
template <class T>
void Vae<T>::hier_kl_sample_forward(T* kl_rows, int B, int rows) const {
  const int Z1 = z1_width_, Z2 = z2_width_;
  const T* A = acts_.data();
  for (int r = 0; r < rows; ++r) {
    const size_t r2 = static_cast<size_t>(r) * Z2, b2 = static_cast<size_t>(r % B) * Z2,
                 r1 = static_cast<size_t>(r) * Z1;
    kl_rows[r] = static_cast<T>(
        gaussian_kl_sample_forward<T>(nullptr, A + z2_ + r2, A + eps2_ + r2, A + logvar_ + b2, 1,
                                      Z2) +
        gaussian_ratio_sample_forward<T>(nullptr, A + z1_ + r1, A + eps1_ + r1, A + qlv1_ + r1,
                                         A + pmu1_ + r1, A + plv1_ + r1, 1, Z1));
  }
}

// β · (the two closed-form KL terms), batch mean: into dμ₂, dlog σ²₂ and the four tensors of
// q(z₁|x, z₂) and p(z₁|z₂); returns its value.
template <class T>
double Vae<T>::hier_kl_backward(int B, T scale, double beta) {
  const T* A = acts_.data();
  T* dA = dacts_.data();
  const T w = static_cast<T>(beta) * scale;
  gaussian_kl_backward(dA + mu_, dA + logvar_, A + mu_, A + logvar_, w,
                       static_cast<size_t>(B) * z2_width_);
  gaussian_pair_kl_backward(dA + qmu1_, dA + qlv1_, dA + pmu1_, dA + plv1_, A + qmu1_, A + qlv1_,
                            A + pmu1_, A + plv1_, w, static_cast<size_t>(B) * z1_width_);
  return beta * hier_kl_forward(nullptr, B, B) / B;
}

// weight_r · scale · (log q − log p at sample row r) for `rows` rows: into dz₂, dlog σ²₂, dz₁
// and the tensors of q(z₁|x, z₂) and p(z₁|z₂).
template <class T>
void Vae<T>::hier_kl_sample_backward(int B, int rows, const double* weight, T scale) {
  const int Z1 = z1_width_, Z2 = z2_width_;
  const T* A = acts_.data();
  T* dA = dacts_.data();
  for (int r = 0; r < rows; ++r) {
    const T w = static_cast<T>(scale * weight[r]);
    const size_t r2 = static_cast<size_t>(r) * Z2, b2 = static_cast<size_t>(r % B) * Z2,
                 r1 = static_cast<size_t>(r) * Z1;
    gaussian_kl_sample_backward(dA + z2_ + r2, dA + logvar_ + b2, A + z2_ + r2, w, Z2);
    gaussian_ratio_sample_backward(dA + z1_ + r1, dA + qlv1_ + r1, dA + pmu1_ + r1,
                                   dA + plv1_ + r1, A + z1_ + r1, A + pmu1_ + r1, A + plv1_ + r1,
                                   w, Z1);
  }
}

// hier_latent_forward in reverse: dz = [dz₁, dz₂] from the decoder, then p(z₁|z₂)'s stack (into
// dz₂), z₁'s reparameterisation and q(z₁|x, z₂)'s stack (into d[x, z₂], whose z₂ part joins
// dz₂), and z₂'s reparameterisation into dμ₂, dlog σ²₂.
template <class T>
void Vae<T>::hier_latent_backward(int B, int K) {
  const int R = K * B, Z1 = z1_width_, Z2 = z2_width_;
  const size_t n2 = static_cast<size_t>(B) * Z2;
  const T* A = acts_.data();
  T* dA = dacts_.data();
  for (int r = 0; r < R; ++r) {
    const T* dz = dA + z_ + static_cast<size_t>(r) * (Z1 + Z2);
    T* dz1 = dA + z1_ + static_cast<size_t>(r) * Z1;
    for (int j = 0; j < Z1; ++j) dz1[j] += dz[j];
  }
  take_columns(dA + z2_, dA + z_, Z1, Z2, R, true);
  gaussian_stack_backward(p1_stack_, p1_mu_, p1_lv_, R);
  reparam_backward(dA + qmu1_, dA + qlv1_, dA + z1_, A + qlv1_, A + eps1_,
                   static_cast<size_t>(R) * Z1);
  gaussian_stack_backward(q1_stack_, q1_mu_, q1_lv_, R);
  take_columns(dA + z2_, dA + xz2_, static_cast<size_t>(cfg_.input_dim), Z2, R, true);
  for (int k = 0; k < K; ++k)
    reparam_backward(dA + mu_, dA + logvar_, dA + z2_ + k * n2, A + logvar_, A + eps2_ + k * n2,
                     n2);
}

// log p(z₁, z₂) = log N(z₂; 0, I) + log N(z₁; μ_p(z₂), σ²_p(z₂)) for n rows of z = [z₁, z₂].
template <class T>
void Vae<T>::hier_log_prior(const T* z, int n, T* logp) {
  const int Z1 = z1_width_, Z2 = z2_width_;
  T* A = acts_.data();
  take_columns(A + z2_, z, Z1, Z2, n, false);
  gaussian_stack_forward(p1_stack_, p1_mu_, p1_lv_, n);
  standard_log_prior_forward(logp, A + z2_, n, Z2);
  for (int r = 0; r < n; ++r) {
    const size_t r1 = static_cast<size_t>(r) * Z1;
    logp[r] = static_cast<T>(logp[r] + gaussian_log_density(z + static_cast<size_t>(r) * (Z1 + Z2),
                                                            A + pmu1_ + r1, A + plv1_ + r1, Z1));
  }
}

// z (n, Z) holds ε = [ε₁, ε₂]; becomes z₂ = ε₂ ~ N(0, I), z₁ = μ_p(z₂) + σ_p(z₂) ⊙ ε₁, a chunk
// of the sample-row tensors at a time.
template <class T>
void Vae<T>::hier_sample_prior(T* z, size_t n) {
  const int Z1 = z1_width_, Z2 = z2_width_;
  const size_t cap = static_cast<size_t>(max_batch_) * max_samples_;
  T* A = acts_.data();
  for (size_t start = 0; start < n; start += cap) {
    const int rows = static_cast<int>(std::min(cap, n - start));
    T* zc = z + start * (Z1 + Z2);
    take_columns(A + z2_, zc, Z1, Z2, rows, false);
    gaussian_stack_forward(p1_stack_, p1_mu_, p1_lv_, rows);
    for (int r = 0; r < rows; ++r) {
      T* row = zc + static_cast<size_t>(r) * (Z1 + Z2);
      const size_t r1 = static_cast<size_t>(r) * Z1;
      reparam_forward(row, A + pmu1_ + r1, A + plv1_ + r1, row, Z1);  // in place: ε₁ → z₁
    }
  }
}

// After the encoder's pass on x (B, D): q(z₁|x, z₂ = μ₂) beside q(z₂|x), as the rows
// mu = [μ_q, μ₂], logvar = [log σ²_q, log σ²₂] (B, Z).
template <class T>
void Vae<T>::hier_encode(const T* x, int B, T* mu, T* logvar) {
  const int Z1 = z1_width_, Z2 = z2_width_;
  T* A = acts_.data();
  join_rows(A + xz2_, x, cfg_.input_dim, B, A + mu_, Z2, B);
  gaussian_stack_forward(q1_stack_, q1_mu_, q1_lv_, B);
  join_rows(mu, A + qmu1_, Z1, B, A + mu_, Z2, B);
  join_rows(logvar, A + qlv1_, Z1, B, A + logvar_, Z2, B);
}

#define VAE_HIERARCHY_INSTANCES(T)                                                              \
  template double gaussian_pair_kl_forward<T>(T*, const T*, const T*, const T*, const T*, int,   \
                                              int);                                             \
  template void gaussian_pair_kl_backward<T>(T*, T*, T*, T*, const T*, const T*, const T*,      \
                                             const T*, T, size_t);                              \
  template double gaussian_ratio_sample_forward<T>(T*, const T*, const T*, const T*, const T*,  \
                                                   const T*, int, int);                         \
  template void gaussian_ratio_sample_backward<T>(T*, T*, T*, T*, const T*, const T*, const T*, \
                                                  T, size_t);                                   \
  template double gaussian_log_density<T>(const T*, const T*, const T*, int);                   \
  template void Vae<T>::place_hierarchy(const ModelPlan&);                                      \
  template void Vae<T>::gaussian_stack_forward(const std::vector<Layer>&, const Layer&, const Layer&,    \
                                      int);                                                     \
  template void Vae<T>::gaussian_stack_backward(const std::vector<Layer>&, const Layer&, const Layer&,   \
                                       int);                                                    \
  template void Vae<T>::hier_latent_forward(const T*, int, int);                                \
  template double Vae<T>::hier_kl_forward(T*, int, int) const;                                  \
  template void Vae<T>::hier_kl_sample_forward(T*, int, int) const;                             \
  template double Vae<T>::hier_kl_backward(int, T, double);                                     \
  template void Vae<T>::hier_kl_sample_backward(int, int, const double*, T);                    \
  template void Vae<T>::hier_latent_backward(int, int);                                         \
  template void Vae<T>::hier_log_prior(const T*, int, T*);                                      \
  template void Vae<T>::hier_sample_prior(T*, size_t);                                          \
  template void Vae<T>::hier_encode(const T*, int, T*, T*);

VAE_HIERARCHY_INSTANCES(float)
VAE_HIERARCHY_INSTANCES(double)

}  // namespace vae
