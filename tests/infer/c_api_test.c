/* The C API (include/vae/vae.h), compiled as C: loads the format-1 fixture (a conditional,
 * standardised 6-column table model), decodes the fixture's codes to the values `vae decode`
 * wrote for them, runs every call, and checks that bad calls return their status with a one-line
 * message kept per thread. Exits non-zero, naming the check, on the first failure.
 *
 *   vae_c_api_test FIXTURE_DIR */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vae/vae.h"

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* The float32 values of a .npy file (format 1.0 header), or NULL. */
static float* read_npy_floats(const char* path, size_t* count) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char head[10];
  float* values = NULL;
  if (fread(head, 1, 10, f) == 10) {
    const long data_at = 10 + (long)(head[8] | (head[9] << 8));
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    *count = (size_t)(size - data_at) / sizeof(float);
    values = malloc(*count * sizeof(float));
    fseek(f, data_at, SEEK_SET);
    if (fread(values, sizeof(float), *count, f) != *count) {
      free(values);
      values = NULL;
    }
  }
  fclose(f);
  return values;
}

static void* fail_on_other_thread(void* model) {
  /* This thread's last error is its own: empty before it fails, then its own message. */
  CHECK(strcmp(vae_last_error(), "") == 0);
  float x[6];
  vae_view out = {x, 1, 6};
  CHECK(vae_sample((const vae_model*)model, 1, out, VAE_NO_LABELS) == VAE_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vae_last_error(), "needs one label per row") != NULL);
  return NULL;
}

static void decodes_as_the_command_did(const vae_model* m, const char* dir) {
  char path[4096];
  size_t nz = 0, nx = 0;
  snprintf(path, sizeof path, "%s/v1/z2.npy", dir);
  float* z = read_npy_floats(path, &nz);
  snprintf(path, sizeof path, "%s/v1/mlp_decoded.npy", dir);
  float* want = read_npy_floats(path, &nx);
  CHECK(z && want && nz == 8 && nx == 24);
  if (!z || !want) return;
  const int32_t ones[4] = {1, 1, 1, 1};
  float x[24];
  vae_cview zv = {z, 4, 2};
  vae_view xv = {x, 4, 6};
  vae_labels labels = {ones, 4};
  CHECK(vae_decode(m, zv, xv, labels) == VAE_OK);
  for (int i = 0; i < 24; ++i) CHECK(fabsf(x[i] - want[i]) <= 1e-6f * (1.0f + fabsf(want[i])));
  free(z);
  free(want);
}

static void every_call_runs(const vae_model* m) {
  const float x[2 * 6] = {1, 2, 3, 4, 5, 6, 1.5f, 2, 2.5f, 4, 4, 5};
  const int32_t y[2] = {0, 2};
  vae_labels labels = {y, 2};
  float mu[4], lv[4], rec[12], s[2], smp[12];
  vae_cview xv = {x, 2, 6};
  vae_view muv = {mu, 2, 2}, lvv = {lv, 2, 2}, recv = {rec, 2, 6}, sv = {s, 2, 1},
           smpv = {smp, 2, 6};
  CHECK(vae_encode(m, xv, muv, lvv, labels) == VAE_OK);
  CHECK(vae_reconstruct(m, xv, recv, labels) == VAE_OK);
  CHECK(vae_score(m, xv, sv, 0, vae_default_seed(), labels) == VAE_OK);
  CHECK(isfinite(s[0]) && isfinite(s[1]));
  CHECK(vae_score(m, xv, sv, 8, 1, labels) == VAE_OK);
  CHECK(isfinite(s[0]) && isfinite(s[1]));
  CHECK(vae_sample(m, 7, smpv, labels) == VAE_OK);
  for (int i = 0; i < 12; ++i) CHECK(isfinite(rec[i]) && isfinite(smp[i]));
}

static void bad_calls_fail_with_a_message(const vae_model* m) {
  float x[12] = {0}, mu[4], lv[4];
  const int32_t y[2] = {0, 1};
  vae_labels labels = {y, 2};
  vae_cview xv = {x, 2, 6};
  vae_view short_mu = {mu, 1, 2}, lvv = {lv, 2, 2};
  CHECK(vae_encode(m, xv, short_mu, lvv, labels) == VAE_ERROR_INVALID_ARGUMENT);
  CHECK(strcmp(vae_last_error(), "mu: has 1 rows, x has 2") == 0);
  CHECK(vae_encode(NULL, xv, short_mu, lvv, labels) == VAE_ERROR_INVALID_ARGUMENT);
  CHECK(strcmp(vae_last_error(), "model: null") == 0);

  pthread_t other;
  CHECK(pthread_create(&other, NULL, fail_on_other_thread, (void*)m) == 0);
  pthread_join(other, NULL);
  CHECK(strcmp(vae_last_error(), "model: null") == 0); /* untouched by the other thread */

  vae_model* none = (vae_model*)1;
  CHECK(vae_load("/nonexistent/model.safetensors", &none) == VAE_ERROR_LOAD);
  CHECK(none == NULL);
  CHECK(strstr(vae_last_error(), "/nonexistent/model.safetensors") != NULL);
  CHECK(strchr(vae_last_error(), '\n') == NULL);
  vae_free(NULL);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
    return 2;
  }
  vae_set_num_threads(1);
  char path[4096];
  snprintf(path, sizeof path, "%s/v1/mlp_gaussian_learned.safetensors", argv[1]);
  vae_model* m = NULL;
  if (vae_load(path, &m) != VAE_OK) {
    fprintf(stderr, "%s\n", vae_last_error());
    return 1;
  }
  CHECK(vae_input_dim(m) == 6 && vae_latent_dim(m) == 2 && vae_num_classes(m) == 3);
  CHECK(strlen(vae_version()) > 0);
  decodes_as_the_command_did(m, argv[1]);
  every_call_runs(m);
  bad_calls_fail_with_a_message(m);
  vae_free(m);
  if (failures) fprintf(stderr, "%d checks failed\n", failures);
  return failures ? 1 : 0;
}
