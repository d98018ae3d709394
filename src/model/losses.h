// The pieces of the negative ELBO, each a forward/backward pair (gradient rule: include/vae/nn.h,
// backward accumulates).
//
// Legend: B batch, Z latent size, D data size, n = element count.
//
// Loss per example (nats):  L(x) = −log p(x|z) + KL(q(z|x) ‖ N(0, I)),  z = μ + σ ⊙ ε.
// Forward functions return SUMS over the batch; the batch scaling (mean over examples) happens in
// one place, the `scale` argument of each backward, set by Vae::backward to 1/B.
//
// In float, the Bernoulli and fixed-σ Gaussian loops (row sums, backward, sigmoid) run the CPU's
// widest kernel table (core/kernels.h); in double they are the reference formulas written here.
#pragma once

#include <cstddef>

namespace vae {

// ---- Reparameterisation: z = μ + exp(½ log σ²) ⊙ ε ----------------------------------------
//   μ, log σ², ε, z all (B, Z). ε ~ N(0, I) is drawn by the caller and passed in, so a test can
//   pin it; the same ε is passed to backward — never redrawn.
template <class T>
void reparam_forward(T* z, const T* mu, const T* logvar, const T* eps, size_t n);
//   ∂z/∂μ = 1,   ∂z/∂log σ² = ½ exp(½ log σ²) ε
//   dμ += dz,    dlog σ² += dz ⊙ ½ exp(½ log σ²) ⊙ ε
template <class T>
void reparam_backward(T* dmu, T* dlogvar, const T* dz, const T* logvar, const T* eps, size_t n);

// ---- KL(N(μ, σ²) ‖ N(0, 1)), closed form, summed over latent dimensions ---------------------
//   KL = −½ Σ_j (1 + log σ²_j − μ_j² − σ²_j)
// Returns the sum over all B·Z entries; writes per-example sums to kl_rows (B) when non-null.
template <class T>
double gaussian_kl_forward(T* kl_rows, const T* mu, const T* logvar, int B, int Z);
//   ∂KL/∂μ = μ,   ∂KL/∂log σ² = ½ (σ² − 1);   dμ += scale · μ,  dlog σ² += scale · ½(σ² − 1)
template <class T>
void gaussian_kl_backward(T* dmu, T* dlogvar, const T* mu, const T* logvar, T scale, size_t n);

// ---- The KL term estimated at the drawn sample --------------------------------------------
// With z = μ + σ ⊙ ε, log q(z|x) = Σ_j (−½ ε_j² − ½ log σ²_j − ½ log 2π) and
// log p(z) = Σ_j (−½ z_j² − ½ log 2π), so
//   KL̂ = log q(z|x) − log p(z) = ½ Σ_j (z_j² − ε_j² − log σ²_j)
// an unbiased one-sample estimate of the closed-form KL (its expectation over ε). It is what the
// IWAE weights hold. Returns the sum over B rows; per-row values to kl_rows (B) when non-null.
template <class T>
double gaussian_kl_sample_forward(T* kl_rows, const T* z, const T* eps, const T* logvar, int B,
                                  int Z);
// With ε fixed, KL̂ depends on z (which depends on μ and log σ², reparam_backward carries that)
// and directly on log σ²:   dz += scale · z,   dlog σ² += −½ · scale     (n = B·Z entries)
template <class T>
void gaussian_kl_sample_backward(T* dz, T* dlogvar, const T* z, T scale, size_t n);

// ---- KL weighting for training: β-VAE and free bits ----------------------------------------
// The training objective may weight the KL term and floor it per dimension (Kingma et al. 2016):
//   β · Σ_j max(λ, KL̄_j),   KL̄_j = (1/B) Σ_r KL_rj   (the batch mean of dimension j's KL)
// A dimension whose batch-mean KL is below the floor λ contributes the constant λ: no gradient.
// dim_weight[j] = β when KL̄_j ≥ λ, else 0 — the per-dimension factor on the KL gradient.
// Returns Σ_j max(λ, KL̄_j) (nats per example, before β).
template <class T>
double free_bits_weights(T* dim_weight, const T* mu, const T* logvar, int B, int Z, double beta,
                         double lambda);
//   dμ_rj += scale · w_j · μ_rj,   dlog σ²_rj += scale · w_j · ½(σ²_rj − 1)
template <class T>
void gaussian_kl_backward_weighted(T* dmu, T* dlogvar, const T* mu, const T* logvar,
                                   const T* dim_weight, T scale, int B, int Z);

// ---- Bernoulli negative log-likelihood from logits -----------------------------------------
//   −log p(x|l) = −[x log σ(l) + (1−x) log(1−σ(l))] = softplus(l) − x·l
//   softplus(l) = max(l, 0) + log1p(exp(−|l|))   (exact and never overflows)
// Valid for x in [0, 1] (continuous "Bernoulli" on grey levels, as in the literature).
// Returns the sum over all B·D entries; per-example sums to nll_rows (B) when non-null.
template <class T>
double bernoulli_nll_forward(T* nll_rows, const T* logits, const T* x, int B, int D);
//   ∂/∂l = σ(l) − x;   dlogits += scale · (σ(l) − x)
template <class T>
void bernoulli_nll_backward(T* dlogits, const T* logits, const T* x, T scale, size_t n);

// ---- Gaussian negative log-likelihood with a fixed standard deviation σ ---------------------
//   −log N(x; m, σ²) = ½ ((x − m)/σ)² + log σ + ½ log 2π      per dimension, in nats
// (the constants are included, so numbers compare across likelihoods and with the literature).
// Returns the sum over all B·D entries; per-example sums to nll_rows (B) when non-null.
template <class T>
double gaussian_nll_forward(T* nll_rows, const T* mean, const T* x, T sigma, int B, int D);
//   ∂/∂m = (m − x)/σ²;   dmean += scale · (m − x)/σ²
template <class T>
void gaussian_nll_backward(T* dmean, const T* mean, const T* x, T sigma, T scale, size_t n);

// ---- Gaussian negative log-likelihood with a learned log σ per data dimension ----------------
//   s (D) = log σ, shared by all rows (the decoder's "logsigma" parameter):
//   −log N(x; m, e^{2s}) = ½ (x − m)² e^{−2s} + s + ½ log 2π      per dimension, in nats
// Returns the sum over all B·D entries; per-example sums to nll_rows (B) when non-null.
template <class T>
double gaussian_learned_nll_forward(T* nll_rows, const T* mean, const T* logsigma, const T* x,
                                    int B, int D);
//   ∂/∂m = (m − x) e^{−2s};   ∂/∂s = 1 − (x − m)² e^{−2s}
//   dmean += scale · (m − x) e^{−2s};   dlogsigma[j] += scale · Σ_rows (1 − (x − m)² e^{−2s})
template <class T>
void gaussian_learned_nll_backward(T* dmean, T* dlogsigma, const T* mean, const T* logsigma,
                                   const T* x, T scale, int B, int D);

/// ½ log 2π.
inline constexpr double kHalfLog2Pi = 0.91893853320467274178;

/// σ(l) = 1 / (1 + e^−l), computed without overflow for either sign; y may alias l.
template <class T>
void sigmoid_forward(T* y, const T* l, size_t n);

}  // namespace vae
