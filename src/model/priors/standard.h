// The standard prior p(z) = N(0, I): no parameters; its KL term has the closed form
// KL(q ‖ N(0, I)) of src/model/losses.h, and log p(z) = Σ_j −½ (log 2π + z_j²)
// (standard_log_prior_forward, model/priors/vamp.h).
#pragma once

#include "model/priors/priors.h"

namespace vae {

PriorRow standard_prior();

}  // namespace vae
