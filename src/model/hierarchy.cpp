// The hierarchical VAE (model/hierarchy.h): its checks, its math, and its latent structure
// (model/latent.h), the model's calls for its two stochastic layers.
#include "model/hierarchy.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/latent.h"
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

// ---- The latent structure -------------------------------------------------------------------

namespace {

// After the heads of q(z₂|x) (at mu, logvar): the x-reading stack of q(z₁|x, z₂) (a conv
// encoder's convolutions again) on B rows, its features f (B, F) at f_ (x itself, F = D, without
// one); then the sample-row tensors ε₁ (·,Z₁), ε₂ (·,Z₂), z₂ (·,Z₂), [f, z₂] (·,F+Z₂), the stack
// and heads of q(z₁|x, z₂) (μ, log σ² at qmu1_, qlv1_), z₁ (·,Z₁), and the stack and heads of
// p(z₁|z₂) (at pmu1_, plv1_).
template <class T>
class HierLatent final : public LatentStructure<T> {
  using Base = LatentStructure<T>;
  using Base::acts;
  using Base::at;
  using Base::cfg;
  using Base::dacts;
  using typename Base::Layer;
  using typename Base::Model;
  using typename Base::Rows;

 public:
  std::unique_ptr<Base> clone() const override { return std::make_unique<HierLatent>(*this); }

  void place(Model& m, const ModelPlan& plan) override {
    z2_width_ = cfg(m).top_latent;
    z1_width_ = cfg(m).latent - cfg(m).top_latent;
    f_width_ = cfg(m).input_dim;
    if (!plan.q1_x.empty()) {
      f_ = Base::x_stack_place(m, plan.q1_x, q1x_stack_);
      f_width_ = plan.q1_x.back().out_size();
    }
    eps1_ = Base::add_slot(m, z1_width_, Rows::Samples);
    eps2_ = Base::add_slot(m, z2_width_, Rows::Samples);
    z2_ = Base::add_slot(m, z2_width_, Rows::Samples);
    xz2_ = Base::add_slot(m, f_width_ + z2_width_, Rows::Samples);
    const size_t q_features = Base::place_stack(m, plan.q1, xz2_, Rows::Samples, q1_stack_);
    Base::place_heads(m, plan.q1_mu, plan.q1_logvar, q_features, Rows::Samples, q1_mu_, q1_lv_);
    qmu1_ = q1_mu_.a;
    qlv1_ = q1_lv_.a;
    z1_ = Base::add_slot(m, z1_width_, Rows::Samples);
    const size_t p_features = Base::place_stack(m, plan.p1, z2_, Rows::Samples, p1_stack_);
    Base::place_heads(m, plan.p1_mu, plan.p1_logvar, p_features, Rows::Samples, p1_mu_, p1_lv_);
    pmu1_ = p1_mu_.a;
    plv1_ = p1_lv_.a;
  }

  // latent_backward's order.
  void ranges(const Model&, std::vector<GradRange>& out) const override {
    Base::add_stack_heads_ranges(out, p1_stack_, p1_mu_, p1_lv_);
    Base::add_stack_heads_ranges(out, q1_stack_, q1_mu_, q1_lv_);
    Base::add_stack_ranges(out, q1x_stack_);
  }

  void sample_forward(Model& m, const T* x, int B, int K) override { latent_forward(m, x, B, K); }

  double kl_forward(Model& m, int B) override { return pair_kl_forward(m, nullptr, B, B); }

  void kl_rows(const Model& m, int B, T* rows) const override { pair_kl_forward(m, rows, B, B); }

  double iw_kl_forward(Model& m, T* kl, int B, int K) override {
    kl_sample_forward(m, kl, B, K * B);
    return pair_kl_forward(m, nullptr, B, K * B) / K;
  }

  // The closed-form KL terms, then the two layers back to dμ₂, dlog σ²₂.
  double elbo_backward(Model& m, const T* x, int B, T scale, double beta, double free_bits,
                       KlEstimator kl) override {
    VAE_ASSERT(free_bits == 0.0 && kl == KlEstimator::Analytic);
    const double kl_objective = pair_kl_backward(m, B, scale, beta);
    latent_backward(m, x, B, 1);
    return kl_objective;
  }

  void iw_backward(Model& m, const T* x, int B, int K, const double* weight, T scale) override {
    kl_sample_backward(m, B, K * B, weight, scale);
    latent_backward(m, x, B, K);
  }

  // log p(z₁, z₂) = log N(z₂; 0, I) + log N(z₁; μ_p(z₂), σ²_p(z₂)) for n rows of z = [z₁, z₂].
  void log_prior(Model& m, const T* z, int n, T* logp) override {
    const int Z1 = z1_width_, Z2 = z2_width_;
    T* A = acts(m);
    take_columns(A + z2_, z, Z1, Z2, n, false);
    Base::stack_heads_forward(m, p1_stack_, p1_mu_, p1_lv_, n);
    standard_log_prior_forward(logp, A + z2_, n, Z2);
    for (int r = 0; r < n; ++r) {
      const size_t r1 = static_cast<size_t>(r) * Z1;
      logp[r] =
          static_cast<T>(logp[r] + gaussian_log_density(z + static_cast<size_t>(r) * (Z1 + Z2),
                                                        A + pmu1_ + r1, A + plv1_ + r1, Z1));
    }
  }

  // z (n, Z) holds ε = [ε₁, ε₂]; becomes z₂ = ε₂ ~ N(0, I), z₁ = μ_p(z₂) + σ_p(z₂) ⊙ ε₁, a
  // chunk of the sample-row tensors at a time.
  void sample_prior(Model& m, T* z, size_t n, Rng&) override {
    const int Z1 = z1_width_, Z2 = z2_width_;
    const size_t cap = Base::sample_rows(m);
    T* A = acts(m);
    for (size_t start = 0; start < n; start += cap) {
      const int rows = static_cast<int>(std::min(cap, n - start));
      T* zc = z + start * (Z1 + Z2);
      take_columns(A + z2_, zc, Z1, Z2, rows, false);
      Base::stack_heads_forward(m, p1_stack_, p1_mu_, p1_lv_, rows);
      for (int r = 0; r < rows; ++r) {
        T* row = zc + static_cast<size_t>(r) * (Z1 + Z2);
        const size_t r1 = static_cast<size_t>(r) * Z1;
        reparam_forward(row, A + pmu1_ + r1, A + plv1_ + r1, row, Z1);  // in place: ε₁ → z₁
      }
    }
  }

  // After the encoder's pass on x (B, D): q(z₁|x, z₂ = μ₂) beside q(z₂|x), as the rows
  // mu = [μ_q, μ₂], logvar = [log σ²_q, log σ²₂] (B, Z).
  bool gaussian_posterior() const override { return false; }  // q(z₁|x, z₂) depends on z₂

  void encode(Model& m, const T* x, int B, T* mu, T* logvar) override {
    const int Z1 = z1_width_, Z2 = z2_width_;
    T* A = acts(m);
    join_rows(A + xz2_, features_forward(m, x, B), f_width_, B, A + at(m).mu, Z2, B);
    Base::stack_heads_forward(m, q1_stack_, q1_mu_, q1_lv_, B);
    join_rows(mu, A + qmu1_, Z1, B, A + at(m).mu, Z2, B);
    join_rows(logvar, A + qlv1_, Z1, B, A + at(m).logvar, Z2, B);
  }

 private:
  // f (B, F): the x-reading stack of q(z₁|x, z₂) on x (B, D), or x itself without one.
  const T* features_forward(Model& m, const T* x, int B) {
    if (q1x_stack_.empty()) return x;
    Base::x_stack_forward(m, q1x_stack_, x, B);
    return acts(m) + f_;
  }

  // features_forward in reverse: df_b = Σ_k d[f, z₂]_{k·B+b} (the first F columns; every sample
  // row of example b read the same f_b), then the stack into its parameters' gradients.
  void features_backward(Model& m, const T* x, int B, int R) {
    if (q1x_stack_.empty()) return;  // f = x: no gradient wanted
    T* dA = dacts(m);
    const size_t F = f_width_, W = F + z2_width_;
    for (int r = 0; r < R; ++r) {
      const T* src = dA + xz2_ + static_cast<size_t>(r) * W;
      T* df = dA + f_ + static_cast<size_t>(r % B) * F;
      for (size_t j = 0; j < F; ++j) df[j] += src[j];
    }
    Base::x_stack_backward(m, q1x_stack_, x, B);
  }

  // z (R, Z) from ε (R, Z) after the encoder's pass on x (B, D), R = K·B: z₂ = μ₂ + σ₂ ⊙ ε₂,
  // q(z₁|x, z₂) on [f, z₂], z₁ = μ_q + σ_q ⊙ ε₁, p(z₁|z₂) on z₂, z = [z₁, z₂].
  void latent_forward(Model& m, const T* x, int B, int K) {
    const int R = K * B, Z1 = z1_width_, Z2 = z2_width_;
    const size_t n2 = static_cast<size_t>(B) * Z2;
    const typename Base::Tensors t = at(m);
    T* A = acts(m);
    for (int r = 0; r < R; ++r) {  // ε = [ε₁, ε₂]
      const T* e = A + t.eps + static_cast<size_t>(r) * (Z1 + Z2);
      std::memcpy(A + eps1_ + static_cast<size_t>(r) * Z1, e, sizeof(T) * Z1);
      std::memcpy(A + eps2_ + static_cast<size_t>(r) * Z2, e + Z1, sizeof(T) * Z2);
    }
    for (int k = 0; k < K; ++k)
      reparam_forward(A + z2_ + k * n2, A + t.mu, A + t.logvar, A + eps2_ + k * n2, n2);
    join_rows(A + xz2_, features_forward(m, x, B), f_width_, B, A + z2_, Z2, R);
    Base::stack_heads_forward(m, q1_stack_, q1_mu_, q1_lv_, R);
    reparam_forward(A + z1_, A + qmu1_, A + qlv1_, A + eps1_, static_cast<size_t>(R) * Z1);
    Base::stack_heads_forward(m, p1_stack_, p1_mu_, p1_lv_, R);
    join_rows(A + t.z, A + z1_, Z1, R, A + z2_, Z2, R);
  }

  // KL(q(z₂|x) ‖ N(0, I)) + KL(q(z₁|x, z₂) ‖ p(z₁|z₂)) of each of `rows` sample rows into
  // kl_rows (rows) when non-null; returns the sum.
  double pair_kl_forward(const Model& m, T* kl_rows, int B, int rows) const {
    const int Z1 = z1_width_, Z2 = z2_width_;
    const typename Base::Tensors t = at(m);
    const T* A = acts(m);
    double total = 0;
    for (int r = 0; r < rows; ++r) {
      const size_t b2 = static_cast<size_t>(r % B) * Z2, r1 = static_cast<size_t>(r) * Z1;
      const double kl = gaussian_kl_forward<T>(nullptr, A + t.mu + b2, A + t.logvar + b2, 1, Z2) +
                        gaussian_pair_kl_forward<T>(nullptr, A + qmu1_ + r1, A + qlv1_ + r1,
                                                    A + pmu1_ + r1, A + plv1_ + r1, 1, Z1);
      if (kl_rows) kl_rows[r] = static_cast<T>(kl);
      total += kl;
    }
    return total;
  }

  // log q(z₁, z₂|x) − log p(z₁, z₂) at each of `rows` sample rows into kl_rows (rows).
  void kl_sample_forward(const Model& m, T* kl_rows, int B, int rows) const {
    const int Z1 = z1_width_, Z2 = z2_width_;
    const T* A = acts(m);
    const size_t logvar = at(m).logvar;
    for (int r = 0; r < rows; ++r) {
      const size_t r2 = static_cast<size_t>(r) * Z2, b2 = static_cast<size_t>(r % B) * Z2,
                   r1 = static_cast<size_t>(r) * Z1;
      kl_rows[r] = static_cast<T>(
          gaussian_kl_sample_forward<T>(nullptr, A + z2_ + r2, A + eps2_ + r2, A + logvar + b2, 1,
                                        Z2) +
          gaussian_ratio_sample_forward<T>(nullptr, A + z1_ + r1, A + eps1_ + r1, A + qlv1_ + r1,
                                           A + pmu1_ + r1, A + plv1_ + r1, 1, Z1));
    }
  }

  // β · (the two closed-form KL terms), batch mean: into dμ₂, dlog σ²₂ and the four tensors of
  // q(z₁|x, z₂) and p(z₁|z₂); returns its value.
  double pair_kl_backward(Model& m, int B, T scale, double beta) {
    const typename Base::Tensors t = at(m);
    const T* A = acts(m);
    T* dA = dacts(m);
    const T w = static_cast<T>(beta) * scale;
    gaussian_kl_backward(dA + t.mu, dA + t.logvar, A + t.mu, A + t.logvar, w,
                         static_cast<size_t>(B) * z2_width_);
    gaussian_pair_kl_backward(dA + qmu1_, dA + qlv1_, dA + pmu1_, dA + plv1_, A + qmu1_, A + qlv1_,
                              A + pmu1_, A + plv1_, w, static_cast<size_t>(B) * z1_width_);
    return beta * pair_kl_forward(m, nullptr, B, B) / B;
  }

  // weight_r · scale · (log q − log p at sample row r) for `rows` rows: into dz₂, dlog σ²₂, dz₁
  // and the tensors of q(z₁|x, z₂) and p(z₁|z₂).
  void kl_sample_backward(Model& m, int B, int rows, const double* weight, T scale) {
    const int Z1 = z1_width_, Z2 = z2_width_;
    const size_t logvar = at(m).logvar;
    const T* A = acts(m);
    T* dA = dacts(m);
    for (int r = 0; r < rows; ++r) {
      const T w = static_cast<T>(scale * weight[r]);
      const size_t r2 = static_cast<size_t>(r) * Z2, b2 = static_cast<size_t>(r % B) * Z2,
                   r1 = static_cast<size_t>(r) * Z1;
      gaussian_kl_sample_backward(dA + z2_ + r2, dA + logvar + b2, A + z2_ + r2, w, Z2);
      gaussian_ratio_sample_backward(dA + z1_ + r1, dA + qlv1_ + r1, dA + pmu1_ + r1,
                                     dA + plv1_ + r1, A + z1_ + r1, A + pmu1_ + r1, A + plv1_ + r1,
                                     w, Z1);
    }
  }

  // latent_forward in reverse: dz = [dz₁, dz₂] from the decoder, then p(z₁|z₂)'s stack (into
  // dz₂), z₁'s reparameterisation and q(z₁|x, z₂)'s stack (into d[f, z₂], whose z₂ part joins
  // dz₂ and whose f part goes back through the x-reading stack), and z₂'s reparameterisation
  // into dμ₂, dlog σ²₂.
  void latent_backward(Model& m, const T* x, int B, int K) {
    const int R = K * B, Z1 = z1_width_, Z2 = z2_width_;
    const size_t n2 = static_cast<size_t>(B) * Z2;
    const typename Base::Tensors t = at(m);
    const T* A = acts(m);
    T* dA = dacts(m);
    for (int r = 0; r < R; ++r) {
      const T* dz = dA + t.z + static_cast<size_t>(r) * (Z1 + Z2);
      T* dz1 = dA + z1_ + static_cast<size_t>(r) * Z1;
      for (int j = 0; j < Z1; ++j) dz1[j] += dz[j];
    }
    take_columns(dA + z2_, dA + t.z, Z1, Z2, R, true);
    Base::stack_heads_backward(m, p1_stack_, p1_mu_, p1_lv_, R);
    reparam_backward(dA + qmu1_, dA + qlv1_, dA + z1_, A + qlv1_, A + eps1_,
                     static_cast<size_t>(R) * Z1);
    Base::stack_heads_backward(m, q1_stack_, q1_mu_, q1_lv_, R);
    take_columns(dA + z2_, dA + xz2_, f_width_, Z2, R, true);
    features_backward(m, x, B, R);
    for (int k = 0; k < K; ++k)
      reparam_backward(dA + t.mu, dA + t.logvar, dA + z2_ + k * n2, A + t.logvar,
                       A + eps2_ + k * n2, n2);
  }

  int z1_width_ = 0, z2_width_ = 0;  // Z₁, Z₂
  size_t f_width_ = 0, f_ = 0;       // F, and the acts offset of f (with an x-reading stack)
  std::vector<Layer> q1x_stack_;
  size_t eps1_ = 0, eps2_ = 0, z2_ = 0, xz2_ = 0, z1_ = 0;  // acts offsets
  std::vector<Layer> q1_stack_, p1_stack_;
  Layer q1_mu_, q1_lv_, p1_mu_, p1_lv_;
  size_t qmu1_ = 0, qlv1_ = 0, pmu1_ = 0, plv1_ = 0;
};

bool serves(const ModelConfig& cfg) { return cfg.top_latent > 0; }

template <class T>
std::unique_ptr<LatentStructure<T>> make(const ModelConfig&) {
  return std::make_unique<HierLatent<T>>();
}

}  // namespace

LatentRow hierarchy_latent() { return {"hierarchy", serves, make<float>, make<double>}; }

#define VAE_HIERARCHY_INSTANCES(T)                                                                 \
  template double gaussian_pair_kl_forward<T>(T*, const T*, const T*, const T*, const T*, int,     \
                                              int);                                                \
  template void gaussian_pair_kl_backward<T>(T*, T*, T*, T*, const T*, const T*, const T*,         \
                                             const T*, T, size_t);                                 \
  template double gaussian_ratio_sample_forward<T>(T*, const T*, const T*, const T*, const T*,     \
                                                   const T*, int, int);                            \
  template void gaussian_ratio_sample_backward<T>(T*, T*, T*, T*, const T*, const T*, const T*, T, \
                                                  size_t);                                         \
  template double gaussian_log_density<T>(const T*, const T*, const T*, int);

VAE_HIERARCHY_INSTANCES(float)
VAE_HIERARCHY_INSTANCES(double)

}  // namespace vae
