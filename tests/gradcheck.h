// Finite-difference gradient checking in double precision.
//
// For a scalar function L(θ) and an analytic gradient g, checks every coordinate:
//   (L(θ + h e_i) − L(θ − h e_i)) / 2h  ≈  g_i
// with |numeric − analytic| ≤ atol + rtol · max(|numeric|, |analytic|). Central differences have
// error O(h²)·L''' — about 1e-10 here for h = 1e-5 — so a real error shows as a large mismatch.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "vae/rng.h"

namespace vae_test {

/// Checks grad[0..n) against central differences of loss() with respect to theta[0..n).
/// loss() must read theta. Returns the largest relative error found.
inline double check_gradient(const std::string& what, double* theta, const double* grad, size_t n,
                             const std::function<double()>& loss, double h = 1e-5,
                             double rtol = 1e-6, double atol = 1e-8) {
  double worst = 0;
  int failures = 0;
  for (size_t i = 0; i < n; ++i) {
    const double saved = theta[i];
    theta[i] = saved + h;
    const double up = loss();
    theta[i] = saved - h;
    const double down = loss();
    theta[i] = saved;
    const double numeric = (up - down) / (2 * h);
    const double diff = std::fabs(numeric - grad[i]);
    const double scale = std::max(std::fabs(numeric), std::fabs(grad[i]));
    worst = std::max(worst, diff / std::max(scale, 1e-12));
    if (diff > atol + rtol * scale && failures++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: analytic " << grad[i] << " vs numeric " << numeric;
  }
  return worst;
}

/// Fills v with U(lo, hi) draws.
inline void fill_uniform(std::vector<double>& v, vae::Rng& rng, double lo = -1, double hi = 1) {
  for (double& x : v) x = lo + (hi - lo) * rng.uniform();
}

/// Σ r ⊙ y: the scalar whose gradient with respect to y is r — a random projection, so every
/// output element reaches the checked gradient with a different weight.
inline double dot(const std::vector<double>& r, const double* y) {
  double s = 0;
  for (size_t i = 0; i < r.size(); ++i) s += r[i] * y[i];
  return s;
}

}  // namespace vae_test
