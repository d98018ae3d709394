// The Gaussian likelihood with a fixed standard deviation σ = ModelConfig::sigma (--sigma S):
// the decoder gives the mean m (B,D) and
//   −log N(x; m, σ²) = ½ ((x − m)/σ)² + log σ + ½ log 2π   per dimension, constants included.
// Decoder mean m itself. No parameters of its own; any real data (tables are standardised by
// --scale auto). The math: gaussian_nll_forward / _backward in src/model/losses.h.
#pragma once

#include "model/likelihoods/likelihoods.h"

namespace vae {

/// The table's row for Likelihood::Gaussian: "gaussian" with a number for sigma.
LikelihoodRow gaussian_likelihood();

/// The decoder mean of both Gaussian likelihoods: the output itself (mean = out, n values).
template <class T>
void gaussian_mean_forward(T* mean, const T* out, size_t n);

}  // namespace vae
