// A closed-form density the exact IW tests compare with: log N(x; c, C) for a 3-dimensional
// Gaussian with a full covariance, by Cholesky (C = L Lᵀ) in double,
//   log N = −½ |L⁻¹(x − c)|² − Σ_i log L_ii − (3/2) log 2π;
// and the 3-dimensional points they evaluate it at.
#pragma once

#include <cmath>
#include <cstdint>

#include "vae/dataset.h"
#include "vae/rng.h"

namespace vae_test {

inline double log_normal3(const double* x, const double* c, const double C[3][3]) {
  double L[3][3] = {};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j <= i; ++j) {
      double s = C[i][j];
      for (int k = 0; k < j; ++k) s -= L[i][k] * L[j][k];
      L[i][j] = i == j ? std::sqrt(s) : s / L[j][j];
    }
  double y[3], quad = 0, logdet = 0;
  for (int i = 0; i < 3; ++i) {  // solve L y = x − c
    double s = x[i] - c[i];
    for (int k = 0; k < i; ++k) s -= L[i][k] * y[k];
    y[i] = s / L[i][i];
    quad += y[i] * y[i];
    logdet += 2 * std::log(L[i][i]);
  }
  return -0.5 * quad - 0.5 * logdet - 1.5 * std::log(2 * M_PI);
}

/// n points x (n, 3) with values U(−half_width, half_width) from Rng(seed).
inline vae::Dataset points3(size_t n, uint64_t seed, double half_width) {
  vae::Dataset data;
  data.n = n;
  data.d = 3;
  data.x.resize(n * 3);
  vae::Rng rng(seed);
  for (float& v : data.x) v = static_cast<float>(2 * half_width * rng.uniform() - half_width);
  return data;
}

}  // namespace vae_test
