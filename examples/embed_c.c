/* Embedding a trained model in a C program (include/vae/vae.h): the C twin of embed.cpp. Loads
 * a checkpoint, encodes four inputs, decodes their posterior means and prints the
 * reconstruction error. Conditional models get label 0 for every row. (No libm: the inputs
 * are a sawtooth in [0, 1] and log sigma^2 is printed as it is.)
 *
 *   embed_c runs/NAME/best.safetensors */
#include <stdio.h>
#include <stdlib.h>

#include "vae/vae.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CHECKPOINT\n", argv[0]);
    return 2;
  }
  vae_model* model = NULL;
  if (vae_load(argv[1], &model) != VAE_OK) {
    fprintf(stderr, "%s\n", vae_last_error());
    return 1;
  }
  const size_t n = 4, D = vae_input_dim(model), Z = vae_latent_dim(model);
  float* x = malloc(n * D * sizeof(float));     /* (n, D) */
  float* recon = malloc(n * D * sizeof(float)); /* (n, D) */
  float* mu = malloc(n * Z * sizeof(float));    /* (n, Z) */
  float* logvar = malloc(n * Z * sizeof(float));
  const int32_t zeros[4] = {0, 0, 0, 0};
  const vae_labels labels = {vae_num_classes(model) > 0 ? zeros : NULL,
                             vae_num_classes(model) > 0 ? n : 0};
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < D; ++j) x[i * D + j] = (float)((j * (i + 1)) % 11) / 10.0f;

  const vae_cview xv = {x, n, D}, muc = {mu, n, Z};
  const vae_view muv = {mu, n, Z}, lvv = {logvar, n, Z}, recv = {recon, n, D};
  int rc = 0;
  if (vae_encode(model, xv, muv, lvv, labels) != VAE_OK ||
      vae_decode(model, muc, recv, labels) != VAE_OK) {
    fprintf(stderr, "%s\n", vae_last_error());
    rc = 1;
  }
  for (size_t i = 0; rc == 0 && i < n; ++i) {
    double se = 0;
    for (size_t j = 0; j < D; ++j)
      se += (x[i * D + j] - recon[i * D + j]) * (x[i * D + j] - recon[i * D + j]);
    printf("example %zu: mu[0] = %.3f, logvar[0] = %.3f, reconstruction MSE %.4f\n", i, mu[i * Z],
           logvar[i * Z], se / (double)D);
  }
  free(x);
  free(recon);
  free(mu);
  free(logvar);
  vae_free(model);
  return rc;
}
