// The hierarchical VAE with two stochastic layers (the HVAE of Tomczak & Welling 2018, "VAE with
// a VampPrior", section 3.2): its configuration checks, the math of its objective, and its row of
// the latent table (model/latent.h), whose structure (in hierarchy.cpp) holds the model's calls
// for the two layers.
//
// Legend: B examples, K samples each, R = K·B sample rows (row r belongs to example r mod B),
// D data size, Z = Z₁ + Z₂ the model's latent size, Z₁ = latent − top_latent, Z₂ = top_latent.
//
//   q(z₂|x)      = N(μ₂, σ²₂)     the encoder's stack and heads on x             (B, Z₂)
//   f            = g(x)           the encoder's layers before the flat ones (a conv encoder's
//                                 convolutions) again, own weights ("encoder_z1.0"…)  (B, F);
//                                 f = x, F = D when there are none (an MLP)
//   q(z₁|x, z₂)  = N(μ_q, σ²_q)   the encoder's flat layers again ("encoder_z1") on [f, z₂] (R, Z₁)
//   p(z₁|z₂)     = N(μ_p, σ²_p)   the encoder's flat layers again ("prior_z1") on z₂     (R, Z₁)
//   p(x|z₁, z₂)                   the decoder on z = [z₁, z₂]                            (R, Z)
//   p(z₂)        = N(0, I)
//   sampling     z₂ = μ₂ + σ₂ ⊙ ε₂,  z₁ = μ_q + σ_q ⊙ ε₁,  ε = [ε₁, ε₂] (R, Z) from the caller
//
// A first dense (or gated) layer on the concatenation [f, z₂] computes W_f f + W_z z₂ + b: the
// same function class as the paper's two branches (one on x, one on z₂) joined by a sum. With
// convolutions (the ConvHVAE) the K sample rows of example b share f_b, so
//   ∂L/∂f_b = Σ_k ∂L/∂[f, z₂]_{k·B+b} (its first F columns)
// before the gradient goes back through g.
//
// Objective (one sample, per example; β scales both KL terms during warm-up):
//   −ELBO = −log p(x|z₁, z₂) + KL(q(z₂|x) ‖ N(0, I)) + KL(q(z₁|x, z₂) ‖ p(z₁|z₂))
// the first KL in closed form (model/losses.h), the second in closed form given the drawn z₂:
//   KL(N(μ_q, σ²_q) ‖ N(μ_p, σ²_p)) = ½ Σ_j (log σ²_pj − log σ²_qj + (σ²_qj + (μ_qj − μ_pj)²) / σ²_pj − 1)
//   ∂/∂μ_q = (μ_q − μ_p) / σ²_p,        ∂/∂μ_p = −(μ_q − μ_p) / σ²_p,
//   ∂/∂log σ²_q = ½ (σ²_q / σ²_p − 1),  ∂/∂log σ²_p = ½ (1 − (σ²_q + (μ_q − μ_p)²) / σ²_p)
// and its gradient reaches z₂ (through μ_q, σ_q and μ_p, σ_p) and so μ₂, log σ²₂.
//
// Importance weights (K samples; the bound of include/vae/model.h):
//   log w = log p(x|z₁, z₂) + log p(z₁|z₂) + log p(z₂) − log q(z₁|x, z₂) − log q(z₂|x)
// the last four as two log-ratios at the drawn sample (ε fixed; log 2π cancels):
//   log q(z₂|x) − log p(z₂)        = ½ Σ_j (z²₂j − ε²₂j − log σ²₂j)           (model/losses.h)
//   log q(z₁|x,z₂) − log p(z₁|z₂)  = ½ Σ_j (log σ²_pj + (z₁j − μ_pj)² / σ²_pj − log σ²_qj − ε²₁j)
//   ∂/∂z₁ = (z₁ − μ_p) / σ²_p,  ∂/∂μ_p = −(z₁ − μ_p) / σ²_p,
//   ∂/∂log σ²_p = ½ (1 − (z₁ − μ_p)² / σ²_p),  ∂/∂log σ²_q = −½
//
// Exact case the tests hold it to: with identity activations, no hidden layers and a Gaussian
// likelihood, z₂ ~ N(0, I), z₁|z₂ ~ N(A z₂ + a, S), x|z ~ N(B z₁ + C z₂ + c, σ² I) gives
// x ~ N(B a + c, (BA + C)(BA + C)ᵀ + B S Bᵀ + σ² I).
#pragma once

#include <cstddef>
#include <string>

#include "model/latent.h"
#include "vae/model.h"

namespace vae {

/// ModelConfig::validate's part: top_latent in 0..latent − 1; with top_latent > 0 the standard
/// prior (p(z₂) = N(0, I)) and an unconditional model. Throws FieldError("top_latent", …).
void validate_hierarchy(const ModelConfig& cfg);

/// Two stochastic layers (top_latent > 0): the latent table's row.
LatentRow hierarchy_latent();

/// describe()'s part: ", two layers z1 40 + z2 40", or "" for one stochastic layer.
std::string hierarchy_description(const ModelConfig& cfg);

/// KL(N(μ_q, σ²_q) ‖ N(μ_p, σ²_p)) per row of (rows, Z) tensors into kl_rows (rows) when non-null;
/// returns the sum (the file comment).
template <class T>
double gaussian_pair_kl_forward(T* kl_rows, const T* qmu, const T* qlogvar, const T* pmu,
                                const T* plogvar, int rows, int Z);
/// Accumulates scale times the four derivatives above over n entries.
template <class T>
void gaussian_pair_kl_backward(T* dqmu, T* dqlogvar, T* dpmu, T* dplogvar, const T* qmu,
                               const T* qlogvar, const T* pmu, const T* plogvar, T scale, size_t n);

/// log q(z|·) − log p(z|·) at z = μ_q + σ_q ⊙ ε, per row of (rows, Z) tensors into kl_rows (rows)
/// when non-null; returns the sum (the file comment).
template <class T>
double gaussian_ratio_sample_forward(T* kl_rows, const T* z, const T* eps, const T* qlogvar,
                                     const T* pmu, const T* plogvar, int rows, int Z);
/// Accumulates scale times its derivatives (ε fixed) into dz, dqlogvar, dpmu, dplogvar (n).
template <class T>
void gaussian_ratio_sample_backward(T* dz, T* dqlogvar, T* dpmu, T* dplogvar, const T* z,
                                    const T* pmu, const T* plogvar, T scale, size_t n);

/// log N(z; μ, diag σ²) = Σ_j −½ (log 2π + log σ²_j + (z_j − μ_j)² / σ²_j) of one row (Z).
template <class T>
double gaussian_log_density(const T* z, const T* mu, const T* logvar, int Z);

}  // namespace vae
