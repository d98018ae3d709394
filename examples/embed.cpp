// Embedding a trained model in a C++ program (include/vae/infer.h): load a checkpoint, encode a
// few inputs to their posterior means, decode those back, and print how close the
// reconstructions are. Conditional models get label 0 for every row.
//
//   embed runs/NAME/best.safetensors
#include <cmath>
#include <cstdio>
#include <vector>

#include "vae/error.h"
#include "vae/infer.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CHECKPOINT\n", argv[0]);
    return 2;
  }
  try {
    const vae::Model model = vae::Model::load(argv[1]);
    const size_t D = model.input_dim(), Z = model.latent();

    // Four inputs: a smooth pattern in [0, 1] (a user would pass their own data here).
    const size_t n = 4;
    std::vector<float> x(n * D);  // (n, D)
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < D; ++j) x[i * D + j] = 0.5f + 0.5f * std::sin(0.05f * j * (i + 1));
    const std::vector<int32_t> labels(model.num_classes() > 0 ? n : 0, 0);  // (n) or none

    std::vector<float> mu(n * Z), logvar(n * Z), recon(n * D);  // (n, Z), (n, Z), (n, D)
    const vae::LabelView y(labels.data(), labels.size());
    model.encode({x.data(), n, D}, {mu.data(), n, Z}, {logvar.data(), n, Z}, y);
    model.decode({mu.data(), n, Z}, {recon.data(), n, D}, y);

    for (size_t i = 0; i < n; ++i) {
      double se = 0;
      for (size_t j = 0; j < D; ++j)
        se += (x[i * D + j] - recon[i * D + j]) * (x[i * D + j] - recon[i * D + j]);
      std::printf(
          "example %zu: mu[0..2] = %.3f %.3f %.3f, sigma[0] = %.3f, reconstruction MSE %.4f\n", i,
          mu[i * Z], Z > 1 ? mu[i * Z + 1] : 0.f, Z > 2 ? mu[i * Z + 2] : 0.f,
          std::exp(0.5f * logvar[i * Z]), se / D);
    }
    return 0;
  } catch (const vae::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
