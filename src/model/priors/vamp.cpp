// The VampPrior's log-density and its gradient (model/priors/vamp.h).
#include "model/priors/vamp.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace vae {

namespace {

constexpr double kLog2Pi = 1.8378770664093454835606594728112;  // log 2π

// ℓ_k = log N(z; μ_k, σ²_k) for one row z (Z) and every component, into ell (K).
template <class T>
void component_log_densities(T* ell, const T* z, const T* mu, const T* logvar, int K, int Z) {
  for (int k = 0; k < K; ++k) {
    const T* m = mu + static_cast<size_t>(k) * Z;
    const T* lv = logvar + static_cast<size_t>(k) * Z;
    double s = 0;
    for (int j = 0; j < Z; ++j) {
      const double d = static_cast<double>(z[j]) - m[j];
      s += kLog2Pi + lv[j] + d * d * std::exp(-static_cast<double>(lv[j]));
    }
    ell[k] = static_cast<T>(-0.5 * s);
  }
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

// Per row: the K log-densities (written where the responsibilities go), their log-sum-exp
// around the largest, then the responsibilities over them. Nothing allocates.
template <class T>
double vamp_log_prior_forward(T* logp, T* resp, const T* z, const T* mu, const T* logvar, int B,
                              int K, int Z) {
  const double log_k = std::log(static_cast<double>(K));
  double total = 0;
  for (int b = 0; b < B; ++b) {
    T* ell = resp + static_cast<size_t>(b) * K;  // (K) ℓ_bk, then r_bk
    component_log_densities(ell, z + static_cast<size_t>(b) * Z, mu, logvar, K, Z);
    const double top = *std::max_element(ell, ell + K);
    double sum = 0;
    for (int k = 0; k < K; ++k) sum += std::exp(ell[k] - top);
    const double lse = top + std::log(sum);
    for (int k = 0; k < K; ++k) ell[k] = static_cast<T>(std::exp(ell[k] - lse));
    logp[b] = static_cast<T>(lse - log_k);
    total += lse - log_k;
  }
  return total;
}

template <class T>
void vamp_log_prior_backward(T* dz, T* dmu, T* dlogvar, const T* dlogp, const T* resp,
                             const T* z, const T* mu, const T* logvar, int B, int K, int Z) {
  for (int b = 0; b < B; ++b) {
    const T* zb = z + static_cast<size_t>(b) * Z;
    for (int k = 0; k < K; ++k) {
      const T g = dlogp[b] * resp[static_cast<size_t>(b) * K + k];  // dlogp_b · r_bk
      if (g == T(0)) continue;
      for (int j = 0; j < Z; ++j) {
        const size_t kj = static_cast<size_t>(k) * Z + j;
        const T inv_var = std::exp(-logvar[kj]);
        const T d = zb[j] - mu[kj];  // z_bj − μ_kj
        if (dz) dz[static_cast<size_t>(b) * Z + j] -= g * d * inv_var;
        if (dmu) dmu[kj] += g * d * inv_var;
        if (dlogvar) dlogvar[kj] += g * T(0.5) * (d * d * inv_var - T(1));
      }
    }
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

}  // namespace vae
