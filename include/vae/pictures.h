// Picture grids of what a model does: samples from the prior and reconstructions.
#pragma once

#include <cstdint>

#include "vae/dataset.h"
#include "vae/model.h"
#include "vae/png.h"

namespace vae {

/// Decodes n draws z ~ N(0, I) (from Rng(seed)) to decoder means σ(logits) and tiles them,
/// `cols` per row. Needs an image model (config().channels > 0). A conditional model gives one
/// row per class instead: row y holds `cols` draws decoded with label y (n is then unused).
Image sample_grid(Vae<float>& model, int n, uint64_t seed, int cols = 8);

/// The first n rows of `data` and their reconstructions σ(decoder(μ(x))) — the posterior mean,
/// no sampling — as pairs of grid rows: `cols` originals above their `cols` reconstructions.
Image reconstruction_grid(Vae<float>& model, const Dataset& data, int n, int cols = 8);

}  // namespace vae
