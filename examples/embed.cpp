// Embedding a trained model in a C++ program: load a checkpoint, encode a few inputs to their
// posterior means, decode those back, and print how close the reconstructions are.
//
//   embed_example runs/NAME/best.safetensors
#include <cmath>
#include <cstdio>
#include <vector>

#include "vae/checkpoint.h"
#include "vae/error.h"
#include "vae/model.h"
#include "vae/rng.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CHECKPOINT\n", argv[0]);
    return 2;
  }
  try {
    const vae::Checkpoint ckpt = vae::load_checkpoint(argv[1]);
    vae::Vae<float> model = vae::model_from_checkpoint(ckpt, /*max_batch=*/16);
    const int D = model.config().input_dim, Z = model.config().latent;

    // Four inputs: a smooth pattern in [0, 1] (a user would pass their own data here).
    const int n = 4;
    std::vector<float> x(n * D);  // (n, D)
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < D; ++j) x[i * D + j] = 0.5f + 0.5f * std::sin(0.05f * j * (i + 1));

    std::vector<float> mu(n * Z), logvar(n * Z), recon(n * D);  // (n, Z), (n, Z), (n, D)
    model.encode(x.data(), n, mu.data(), logvar.data());
    model.decode(mu.data(), n, recon.data());

    for (int i = 0; i < n; ++i) {
      double se = 0;
      for (int j = 0; j < D; ++j) se += (x[i * D + j] - recon[i * D + j]) * (x[i * D + j] - recon[i * D + j]);
      std::printf("example %d: mu[0..2] = %.3f %.3f %.3f, sigma[0] = %.3f, reconstruction MSE %.4f\n", i,
                  mu[i * Z], Z > 1 ? mu[i * Z + 1] : 0.f, Z > 2 ? mu[i * Z + 2] : 0.f,
                  std::exp(0.5f * logvar[i * Z]), se / D);
    }
    return 0;
  } catch (const vae::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
