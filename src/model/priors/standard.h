// The standard prior p(z) = N(0, I) over one stochastic layer: no parameters; its KL term has the
// closed form KL(q ‖ N(0, I)) of src/model/losses.h (or, on request, the estimate at the drawn z,
// or the free-bits floor on each dimension's KL), and log p(z) = Σ_j −½ (log 2π + z_j²)
// (standard_log_prior_forward, model/priors/vamp.h). Its latent structure (model/latent.h):
//   z = μ + σ ⊙ ε;  the IW rows  log q(z|x) − log p(z) = ½ Σ_j (z_j² − ε_j² − log σ²_j);
//   sampling        z = ε ~ N(0, I).
#pragma once

#include "model/latent.h"
#include "model/priors/priors.h"

namespace vae {

PriorRow standard_prior();

/// One stochastic layer under N(0, I): the latent table's row for the standard prior.
LatentRow standard_latent();

}  // namespace vae
