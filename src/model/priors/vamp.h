// The VampPrior (Tomczak & Welling 2018): a mixture of the encoder's own posteriors at K learned
// pseudo-inputs u_k,
//   p(z) = (1/K) Σ_k N(z; μ_k, diag σ²_k),   (μ_k, log σ²_k) = the encoder's heads at u_k,
// beside the standard prior N(0, I) it replaces. Its log-density and gradient, for the KL term
// estimated at the drawn z (log q(z|x) − log p(z)) and the importance weights of the IW bound.
//
// Legend: B rows of z, K mixture components (pseudo-inputs), Z latent size.
//
//   ℓ_bk      = log N(z_b; μ_k, σ²_k) = Σ_j −½ (log 2π + log σ²_kj + (z_bj − μ_kj)² / σ²_kj)
//   log p(z_b) = log Σ_k exp ℓ_bk − log K          (log-sum-exp: no overflow, no underflow)
//   r_bk      = exp(ℓ_bk − log Σ_k' exp ℓ_bk')     (the responsibilities, Σ_k r_bk = 1)
//   ∂log p(z_b)/∂z_bj      = Σ_k r_bk (μ_kj − z_bj) / σ²_kj
//   ∂log p(z_b)/∂μ_kj      = r_bk (z_bj − μ_kj) / σ²_kj
//   ∂log p(z_b)/∂log σ²_kj = r_bk · ½ ((z_bj − μ_kj)² / σ²_kj − 1)
//
// Exact cases the tests hold it to: when every component is the same N(μ, σ²), p(z) is that
// Gaussian (whatever K), and with μ = 0, σ = 1 it is the standard prior.
//
// In the model (its latent structure, model/latent.h, in vamp.cpp) the K pseudo-inputs u (K, D)
// are parameters ("prior.pseudo_inputs"); each forward runs the encoder on them for (μ_k,
// log σ²_k), and the KL term is estimated at the drawn z,  KL̂ = log q(z|x) − log p(z), with
//   log q(z|x) = Σ_j −½ (log 2π + log σ²_j + ε²_j)     (z = μ + σ ⊙ ε)
// so its gradient reaches z (the encoder on x), μ_k and log σ²_k (the encoder again, through the
// pseudo-input pass) and u. Sampling: k ~ U{1..K}, z ~ N(μ_k, σ²_k).
#pragma once

#include "model/latent.h"
#include "model/priors/priors.h"

namespace vae {

/// The VampPrior's row of the prior table.
PriorRow vamp_prior();
/// One stochastic layer under the VampPrior: the latent table's row (the model's calls above).
LatentRow vamp_latent();

/// log N(z; 0, I) = Σ_j −½ (log 2π + z_j²) for each of B rows of z (B, Z) into logp (B);
/// returns the sum over the rows.
template <class T>
double standard_log_prior_forward(T* logp, const T* z, int B, int Z);
/// dz (B, Z) += dlogp_b · (−z_bj).
template <class T>
void standard_log_prior_backward(T* dz, const T* dlogp, const T* z, int B, int Z);

/// log p(z_b) of the mixture for each of B rows of z (B, Z) into logp (B), from the components'
/// mu, logvar (K, Z); keeps the responsibilities r (B, K) for backward unless resp is nullptr.
/// Returns the sum over the rows (in double).
template <class T>
double vamp_log_prior_forward(T* logp, T* resp, const T* z, const T* mu, const T* logvar, int B,
                              int K, int Z);
/// Accumulates (+=) dlogp_b times the derivatives above into dz (B, Z), dmu and dlogvar (K, Z);
/// any of the three may be nullptr (not wanted). resp is forward's.
template <class T>
void vamp_log_prior_backward(T* dz, T* dmu, T* dlogvar, const T* dlogp, const T* resp,
                             const T* z, const T* mu, const T* logvar, int B, int K, int Z);

}  // namespace vae
