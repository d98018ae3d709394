#include "vae/pictures.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "vae/error.h"

namespace vae {

static void require_images(const ModelConfig& c) {
  if (c.channels <= 0 || c.height <= 0 || c.width <= 0)
    throw Error("this model was trained on non-image data: there is no picture to draw");
}

Image sample_grid(Vae<float>& model, int n, uint64_t seed, int cols) {
  const ModelConfig& c = model.config();
  require_images(c);
  VAE_ASSERT(n >= 1);
  Rng rng(seed);
  std::vector<int32_t> labels;  // (n) one row of `cols` per class, for a conditional model
  if (c.num_classes > 0) {
    n = c.num_classes * cols;
    for (int i = 0; i < n; ++i) labels.push_back(i / cols);
  }
  std::vector<float> z(static_cast<size_t>(n) * c.latent);    // (n, Z)
  std::vector<float> x(static_cast<size_t>(n) * c.input_dim);  // (n, D)
  rng.normal_fill(z.data(), z.size());
  model.decode(z.data(), n, x.data(), labels.empty() ? nullptr : labels.data());
  return make_grid(x.data(), n, c.height, c.width, c.channels, std::min(cols, n));
}

Image reconstruction_grid(Vae<float>& model, const Dataset& data, int n, int cols) {
  const ModelConfig& c = model.config();
  require_images(c);
  VAE_ASSERT(data.d == static_cast<size_t>(c.input_dim));
  n = static_cast<int>(std::min<size_t>(n, data.n));
  VAE_ASSERT(n >= 1);
  cols = std::min(cols, n);
  const size_t D = c.input_dim, Z = c.latent;
  std::vector<float> mu(n * Z), logvar(n * Z), recon(n * D);  // (n, Z), (n, Z), (n, D)
  model.encode(data.row(0), n, mu.data(), logvar.data(), data.label_ptr(0));
  model.decode(mu.data(), n, recon.data(), data.label_ptr(0));
  // Interleave rows of the grid: originals [k*cols, (k+1)*cols), then their reconstructions.
  const int pairs = (n + cols - 1) / cols;
  std::vector<float> tiles(static_cast<size_t>(2 * pairs * cols) * D, 1.0f);  // blank = white
  for (int k = 0; k < pairs; ++k)
    for (int j = 0; j < cols; ++j) {
      const int i = k * cols + j;
      if (i >= n) break;
      std::memcpy(&tiles[(static_cast<size_t>(2 * k) * cols + j) * D], data.row(i), sizeof(float) * D);
      std::memcpy(&tiles[(static_cast<size_t>(2 * k + 1) * cols + j) * D], &recon[i * D], sizeof(float) * D);
    }
  return make_grid(tiles.data(), 2 * pairs * cols, c.height, c.width, c.channels, cols);
}

}  // namespace vae
