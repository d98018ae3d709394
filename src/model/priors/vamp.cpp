// The VampPrior's log-density and its gradient (model/priors/vamp.h).
#include "model/priors/vamp.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <vector>

#include "core/blas.h"
#include "core/fastmath.h"
#include "model/losses.h"
#include "model/plan.h"
#include "vae/error.h"

namespace vae {

namespace {

constexpr double kLog2Pi = 1.8378770664093454835606594728112;  // log 2π

// The components' log-densities as one product over the rows. Expanding the square,
//   ℓ_bk = log N(z_b; μ_k, σ²_k) = −½ Σ_j [ (z_bj − μ_kj)² / σ²_kj + log σ²_kj + log 2π ]
//        = Σ_j z²_bj · (−½/σ²_kj) + Σ_j z_bj · (μ_kj/σ²_kj) + 1 · (−½ c_k),
//   c_k  = Σ_j [ μ²_kj/σ²_kj + log σ²_kj + log 2π ],
// so ℓ (rows, K) = [z², z, 1] (rows, 2Z + 1) · coefᵀ with coef (K, 2Z + 1) = [−½/σ², μ/σ², −½c].
// In double: the expanded terms cancel where z_b is close to μ_k and σ_k is small (terms of
// 10⁴–10⁶ whose difference is ~1 keep 10 digits in double, 2 in float).
// w = 1/σ²_kj and μ_kj·w of every component (K, Z), in double: the factors that the log-density's
// product (forward) and its gradient's products (backward) are both written in.
struct ComponentScales {
  std::vector<double> w, muw;  // (K, Z) each
};

template <class T>
ComponentScales component_scales(const T* mu, const T* logvar, size_t KZ) {
  ComponentScales s{std::vector<double>(KZ), std::vector<double>(KZ)};
  for (size_t i = 0; i < KZ; ++i) {
    s.w[i] = std::exp(-static_cast<double>(logvar[i]));
    s.muw[i] = mu[i] * s.w[i];
  }
  return s;
}

template <class T>
std::vector<double> component_coefficients(const T* mu, const T* logvar, int K, int Z) {
  const int F = 2 * Z + 1;
  const ComponentScales sc = component_scales(mu, logvar, static_cast<size_t>(K) * Z);
  std::vector<double> coef(static_cast<size_t>(K) * F);  // (K, 2Z + 1)
  for (int k = 0; k < K; ++k) {
    double* row = coef.data() + static_cast<size_t>(k) * F;  // (2Z + 1)
    double ck = 0;
    for (int j = 0; j < Z; ++j) {
      const size_t kj = static_cast<size_t>(k) * Z + j;
      const double m = mu[kj];
      row[j] = -0.5 * sc.w[kj];
      row[Z + j] = sc.muw[kj];
      ck += m * m * sc.w[kj] + logvar[kj] + kLog2Pi;
    }
    row[2 * Z] = -0.5 * ck;
  }
  return coef;
}

// Rows per product: the block's ℓ (kBlockRows, K) in double stays within a few hundred kB.
constexpr int kBlockRows = 64;

// max and Σ of n values in 8 independent lanes, folded in a fixed order: loops the compiler
// vectorises (one running max or sum is a chain it may not reorder).
constexpr int kLanes = 8;

inline double lane_max(const double* x, int n) {
  double m[kLanes];
  for (int j = 0; j < kLanes; ++j) m[j] = -HUGE_VAL;
  int k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (int j = 0; j < kLanes; ++j) m[j] = x[k + j] > m[j] ? x[k + j] : m[j];
  for (; k < n; ++k) m[0] = x[k] > m[0] ? x[k] : m[0];
  double top = m[0];
  for (int j = 1; j < kLanes; ++j) top = m[j] > top ? m[j] : top;
  return top;
}

template <class T>
double lane_sum(const T* x, int n) {
  double s[kLanes] = {};
  int k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (int j = 0; j < kLanes; ++j) s[j] += x[k + j];
  for (; k < n; ++k) s[0] += x[k];
  double total = 0;
  for (int j = 0; j < kLanes; ++j) total += s[j];
  return total;
}

}  // namespace

PriorRow vamp_prior() {
  PriorRow r;
  r.kind = Prior::Vamp;
  r.name = "vamp";
  r.json_name = "vamp";
  r.description = "vamp";
  r.pseudo_inputs = true;
  return r;
}

template <class T>
double standard_log_prior_forward(T* logp, const T* z, int B, int Z) {
  double total = 0;
  for (int b = 0; b < B; ++b) {
    double s = 0;
    for (int j = 0; j < Z; ++j) {
      const double v = z[static_cast<size_t>(b) * Z + j];
      s += kLog2Pi + v * v;
    }
    logp[b] = static_cast<T>(-0.5 * s);
    total += -0.5 * s;
  }
  return total;
}

template <class T>
void standard_log_prior_backward(T* dz, const T* dlogp, const T* z, int B, int Z) {
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < Z; ++j) {
      const size_t i = static_cast<size_t>(b) * Z + j;
      dz[i] -= dlogp[b] * z[i];
    }
}

// Per block of rows: the K log-densities of every row as one product (component_coefficients),
// then per row their log-sum-exp around the largest and, when wanted, the responsibilities. The
// exponentials of ℓ − max ≤ 0 run in T (float's is core/fastmath.h's, a few ulp; the sum is in
// double).
template <class T>
double vamp_log_prior_forward(T* logp, T* resp, const T* z, const T* mu, const T* logvar, int B,
                              int K, int Z) {
  const int F = 2 * Z + 1;
  const double log_k = std::log(static_cast<double>(K));
  const std::vector<double> coef = component_coefficients(mu, logvar, K, Z);  // (K, 2Z + 1)
  std::vector<double> feat(static_cast<size_t>(kBlockRows) * F);  // (rows, 2Z + 1): [z², z, 1]
  std::vector<double> ell(static_cast<size_t>(kBlockRows) * K);   // (rows, K) ℓ_bk
  std::vector<T> e(K);                                             // (K) e^(ℓ_bk − max)
  double total = 0;
  for (int b0 = 0; b0 < B; b0 += kBlockRows) {
    const int rows = std::min(kBlockRows, B - b0);
    for (int i = 0; i < rows; ++i) {
      double* f = feat.data() + static_cast<size_t>(i) * F;  // (2Z + 1)
      for (int j = 0; j < Z; ++j) {
        const double v = z[static_cast<size_t>(b0 + i) * Z + j];
        f[j] = v * v;
        f[Z + j] = v;
      }
      f[2 * Z] = 1;
    }
    gemm<double>(false, true, rows, K, F, 1.0, feat.data(), F, coef.data(), F, 0.0, ell.data(), K);
    for (int i = 0; i < rows; ++i) {
      const double* l = ell.data() + static_cast<size_t>(i) * K;  // (K) ℓ_bk
      const double top = lane_max(l, K);
      for (int k = 0; k < K; ++k) e[k] = fastmath::exp_nonpositive(static_cast<T>(l[k] - top));
      const double lse = top + std::log(lane_sum(e.data(), K));
      if (resp) {
        T* r = resp + static_cast<size_t>(b0 + i) * K;  // (K) r_bk
        for (int k = 0; k < K; ++k)
          r[k] = fastmath::exp_nonpositive(static_cast<T>(std::min(l[k] - lse, 0.0)));
      }
      logp[b0 + i] = static_cast<T>(lse - log_k);
      total += lse - log_k;
    }
  }
  return total;
}

// With g_bk = dlogp_b · r_bk (G, B × K) and w_kj = 1/σ²_kj, the derivatives of log p(z_b),
//   ∂/∂z_bj       = −Σ_k r_bk (z_bj − μ_kj) w_kj
//   ∂/∂μ_kj       =  r_bk (z_bj − μ_kj) w_kj
//   ∂/∂log σ²_kj  =  ½ r_bk ((z_bj − μ_kj)² w_kj − 1),
// summed over the rows with the weights dlogp_b, are products with G (in double, as forward's):
//   dz       −= z ∘ (G·w) − G·(μ∘w)                                       (B, Z)
//   dμ       += w ∘ (Gᵀz) − μ∘w ∘ γ                                       (K, Z), γ_k = Σ_b g_bk
//   dlog σ²  += ½ [ w ∘ (Gᵀz² − 2 μ ∘ Gᵀz + μ² ∘ γ) − γ ]                 (K, Z)
template <class T>
void vamp_log_prior_backward(T* dz, T* dmu, T* dlogvar, const T* dlogp, const T* resp,
                             const T* z, const T* mu, const T* logvar, int B, int K, int Z) {
  const size_t BK = static_cast<size_t>(B) * K, BZ = static_cast<size_t>(B) * Z,
               KZ = static_cast<size_t>(K) * Z;
  // 1. G (B, K), z and z² (B, Z), w and μ∘w (K, Z), γ (K), in double.
  std::vector<double> G(BK), zd(BZ), z2(BZ), gamma(K, 0.0);
  const ComponentScales sc = component_scales(mu, logvar, KZ);
  const std::vector<double>& w = sc.w;
  const std::vector<double>& muw = sc.muw;
  for (int b = 0; b < B; ++b)
    for (int k = 0; k < K; ++k) {
      const size_t bk = static_cast<size_t>(b) * K + k;
      G[bk] = static_cast<double>(dlogp[b]) * resp[bk];
      gamma[k] += G[bk];
    }
  for (size_t i = 0; i < BZ; ++i) {
    zd[i] = z[i];
    z2[i] = zd[i] * zd[i];
  }
  // 2. dz (B, Z) −= z ∘ (G·w) − G·(μ∘w).
  if (dz) {
    std::vector<double> Gw(BZ), Gmuw(BZ);
    gemm<double>(false, false, B, Z, K, 1.0, G.data(), K, w.data(), Z, 0.0, Gw.data(), Z);
    gemm<double>(false, false, B, Z, K, 1.0, G.data(), K, muw.data(), Z, 0.0, Gmuw.data(), Z);
    for (size_t i = 0; i < BZ; ++i) dz[i] -= static_cast<T>(zd[i] * Gw[i] - Gmuw[i]);
  }
  if (!dmu && !dlogvar) return;
  // 3. Gᵀz and Gᵀz² (K, Z), then dμ and dlog σ².
  std::vector<double> Gz(KZ), Gz2(KZ);
  gemm<double>(true, false, K, Z, B, 1.0, G.data(), K, zd.data(), Z, 0.0, Gz.data(), Z);
  if (dlogvar)
    gemm<double>(true, false, K, Z, B, 1.0, G.data(), K, z2.data(), Z, 0.0, Gz2.data(), Z);
  for (int k = 0; k < K; ++k)
    for (int j = 0; j < Z; ++j) {
      const size_t kj = static_cast<size_t>(k) * Z + j;
      const double m = mu[kj];
      if (dmu) dmu[kj] += static_cast<T>(w[kj] * Gz[kj] - muw[kj] * gamma[k]);
      if (dlogvar)
        dlogvar[kj] += static_cast<T>(
            0.5 * (w[kj] * (Gz2[kj] - 2 * m * Gz[kj] + m * m * gamma[k]) - gamma[k]));
    }
}

template double standard_log_prior_forward<float>(float*, const float*, int, int);
template double standard_log_prior_forward<double>(double*, const double*, int, int);
template void standard_log_prior_backward<float>(float*, const float*, const float*, int, int);
template void standard_log_prior_backward<double>(double*, const double*, const double*, int,
                                                  int);
template double vamp_log_prior_forward<float>(float*, float*, const float*, const float*,
                                              const float*, int, int, int);
template double vamp_log_prior_forward<double>(double*, double*, const double*, const double*,
                                               const double*, int, int, int);
template void vamp_log_prior_backward<float>(float*, float*, float*, const float*, const float*,
                                             const float*, const float*, const float*, int, int,
                                             int);
template void vamp_log_prior_backward<double>(double*, double*, double*, const double*,
                                              const double*, const double*, const double*,
                                              const double*, int, int, int);

// ---- The latent structure -------------------------------------------------------------------

namespace {

// One stochastic layer under the mixture: the pseudo-input pass (u (K_u, D) from the parameters,
// copied so that the first layer's input gradient has a place, then the encoder's stack and heads
// again, same parameters, K_u rows of their own activations) gives the components' μ_k, log σ²_k
// (K_u, Z) at umu_, ulv_; the KL term is always the estimate at the drawn z.
template <class T>
class VampLatent final : public LatentStructure<T> {
  using Base = LatentStructure<T>;
  using Base::acts;
  using Base::at;
  using Base::cfg;
  using Base::dacts;
  using typename Base::Layer;
  using typename Base::Model;
  using typename Base::Rows;

 public:
  std::unique_ptr<Base> clone() const override { return std::make_unique<VampLatent>(*this); }

  void place(Model& m, const ModelPlan& plan) override {
    u_ = Base::add_slot(m, cfg(m).input_dim, Rows::Pseudo);
    const size_t features = Base::place_stack(m, plan.encoder, u_, Rows::Pseudo, uenc_);
    Base::place_heads(m, plan.mu_head, plan.logvar_head, features, Rows::Pseudo, umu_head_,
                      ulv_head_);
    umu_ = umu_head_.a;
    ulv_ = ulv_head_.a;
    const size_t rows = Base::sample_rows(m);
    kl_.assign(rows, T(0));
    logp_.assign(rows, T(0));
    dlogp_.assign(rows, T(0));
    resp_.assign(rows * cfg(m).pseudo_inputs, T(0));
  }

  double kl_forward(Model& m, int B) override { return vamp_kl_forward(m, kl_.data(), B, B); }

  void kl_rows(const Model&, int B, T* rows) const override {
    std::copy(kl_.begin(), kl_.begin() + B, rows);  // kl_forward's KL̂ rows
  }

  double iw_kl_forward(Model& m, T* kl, int B, int K) override {
    return vamp_kl_forward(m, kl, B, K * B) / K;
  }

  double elbo_backward(Model& m, const T*, int B, T scale, double beta, double free_bits,
                       KlEstimator) override {
    VAE_ASSERT(free_bits == 0.0);
    std::fill(dlogp_.begin(), dlogp_.begin() + B, static_cast<T>(beta) * scale);
    vamp_kl_backward(m, B, B, dlogp_.data());
    Base::reparam_samples_backward(m, B, 1);
    double sum = 0;
    for (int b = 0; b < B; ++b) sum += kl_[b];
    return beta * sum / B;
  }

  void iw_backward(Model& m, const T*, int B, int K, const double* weight, T scale) override {
    std::vector<T>& w = dlogp_;  // (K·B) each row's weight, scale · w̃_r
    for (int r = 0; r < K * B; ++r) w[r] = static_cast<T>(scale * weight[r]);
    vamp_kl_backward(m, B, K * B, w.data());
    Base::reparam_samples_backward(m, B, K);
  }

  bool encoder_reused() const override { return true; }

  // The pseudo-input pass in reverse: from dμ_k, dlog σ²_k through the heads and the encoder's
  // stack (into the encoder's parameter gradients, added to those of the pass on x, which are
  // then final) to du, which is added to the pseudo-inputs' parameter gradient.
  void prior_backward(Model& m) override {
    const int K = cfg(m).pseudo_inputs;
    Base::stack_heads_backward(m, uenc_, umu_head_, ulv_head_, K);
    const T* du = dacts(m) + u_;  // (K_u, D)
    T* g = Base::grads(m) + Base::prior_params(m);
    const size_t n = static_cast<size_t>(K) * cfg(m).input_dim;
    for (size_t i = 0; i < n; ++i) g[i] += du[i];
    Base::gradient_final(m, Base::prior_params(m), Base::lk_params(m));
  }

  void log_prior(Model& m, const T* z, int n, T* logp) override {
    pseudo_forward(m);
    vamp_log_prior_forward(logp, static_cast<T*>(nullptr), z, acts(m) + umu_, acts(m) + ulv_, n,
                           cfg(m).pseudo_inputs, cfg(m).latent);
  }

  // z_i = μ_k + σ_k ⊙ ε_i, k ~ U{0..K_u−1}, after the pseudo-input pass.
  void sample_prior(Model& m, T* z, size_t n, Rng& rng) override {
    const int Z = cfg(m).latent;
    pseudo_forward(m);
    const T* A = acts(m);
    for (size_t i = 0; i < n; ++i) {
      const size_t k = static_cast<size_t>(rng.below(static_cast<uint64_t>(cfg(m).pseudo_inputs)));
      reparam_forward(z + i * Z, A + umu_ + k * Z, A + ulv_ + k * Z, z + i * Z, Z);
    }
  }

 private:
  // u (K_u, D) from the parameters through the encoder's stack and heads to μ_k, log σ²_k.
  void pseudo_forward(Model& m) {
    const int K = cfg(m).pseudo_inputs;
    std::memcpy(acts(m) + u_, Base::params(m) + Base::prior_params(m),
                sizeof(T) * static_cast<size_t>(K) * cfg(m).input_dim);
    Base::stack_heads_forward(m, uenc_, umu_head_, ulv_head_, K);
  }

  // KL̂_r = log q(z_r|x) − log p(z_r) for `rows` rows of z (row r belongs to example r mod B),
  // with log q(z|x) = Σ_j −½ (log 2π + log σ²_j + ε²_j) and log p the mixture's, after the
  // pseudo-input pass. Into kl (rows); returns the sum.
  double vamp_kl_forward(Model& m, T* kl, int B, int rows) {
    const int Z = cfg(m).latent;
    const T* A = acts(m);
    const typename Base::Tensors t = at(m);
    pseudo_forward(m);
    vamp_log_prior_forward(logp_.data(), resp_.data(), A + t.z, A + umu_, A + ulv_, rows,
                           cfg(m).pseudo_inputs, Z);
    double total = 0;
    for (int r = 0; r < rows; ++r) {
      const T* lv = A + t.logvar + static_cast<size_t>(r % B) * Z;  // (Z) log σ² of its example
      const T* e = A + t.eps + static_cast<size_t>(r) * Z;          // (Z) ε_r
      double s = 0;
      for (int j = 0; j < Z; ++j) s += 2 * kHalfLog2Pi + lv[j] + static_cast<double>(e[j]) * e[j];
      const double k = -0.5 * s - static_cast<double>(logp_[r]);
      kl[r] = static_cast<T>(k);
      total += k;
    }
    return total;
  }

  // weight_r · KL̂_r for `rows` rows of z (vamp_kl_forward's): through log q, ε fixed,
  // ∂KL̂_r/∂log σ²_{r mod B, j} = −½; through −log p, into dz_r, dμ_k and dlog σ²_k of the
  // pseudo-input pass (vamp_log_prior_backward with dlogp_r = −weight_r). weight (rows) may be
  // dlogp_ itself: each entry is read before it is overwritten with −weight.
  void vamp_kl_backward(Model& m, int B, int rows, const T* weight) {
    const int Z = cfg(m).latent;
    const T* A = acts(m);
    T* dA = dacts(m);
    const typename Base::Tensors t = at(m);
    T* dlogp = dlogp_.data();
    for (int r = 0; r < rows; ++r) {
      T* dlv = dA + t.logvar + static_cast<size_t>(r % B) * Z;
      const T w = weight[r];
      for (int j = 0; j < Z; ++j) dlv[j] -= T(0.5) * w;
      dlogp[r] = -w;
    }
    vamp_log_prior_backward(dA + t.z, dA + umu_, dA + ulv_, dlogp, resp_.data(), A + t.z, A + umu_,
                            A + ulv_, rows, cfg(m).pseudo_inputs, Z);
  }

  std::vector<Layer> uenc_;
  Layer umu_head_, ulv_head_;
  size_t u_ = 0, umu_ = 0, ulv_ = 0;  // acts offsets: u (K_u, D), μ_k, log σ²_k (K_u, Z)
  std::vector<T> kl_;                 // (B) the KL̂ rows of the last forward
  std::vector<T> logp_, dlogp_;       // (max rows) log p(z_r), its weight
  std::vector<T> resp_;               // (max rows, K_u) the mixture's responsibilities
};

bool serves(const ModelConfig& cfg) { return cfg.prior == Prior::Vamp; }

template <class T>
std::unique_ptr<LatentStructure<T>> make(const ModelConfig&) {
  return std::make_unique<VampLatent<T>>();
}

}  // namespace

LatentRow vamp_latent() { return {"vamp", serves, make<float>, make<double>}; }

}  // namespace vae
