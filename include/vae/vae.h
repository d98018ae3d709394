/* The C API of vae.cpp: load a trained model and run it from C or any language with a C
 * foreign-function interface (the Python package python/vae/ is built on it).
 *
 *   vae_model* m = NULL;
 *   if (vae_load("best.safetensors", &m) != VAE_OK) { fprintf(stderr, "%s\n", vae_last_error()); }
 *   size_t D = vae_input_dim(m), Z = vae_latent_dim(m);
 *   vae_cview x = {pixels, n, D};
 *   vae_view mu = {mu_buf, n, Z}, logvar = {lv_buf, n, Z};
 *   vae_encode(m, x, mu, logvar, VAE_NO_LABELS);
 *   vae_free(m);
 *
 * Everything here is the C++ inference API (vae/infer.h) behind plain C types; its rules hold:
 *   units    x in the data's own units; the checkpoint's scaling is applied on the way in and
 *            undone on the way out; z, mu and logvar are the latent space
 *   shapes   every buffer is a row-major view {data, rows, cols}, checked against the model and
 *            the other arguments; a mismatch fails with VAE_ERROR_INVALID_ARGUMENT and writes
 *            nothing
 *   labels   conditional models (vae_num_classes > 0) need one label per row, in 0..Y-1; other
 *            models take VAE_NO_LABELS
 *   threads  every function taking a const vae_model* may be called from many threads at once
 *            on one model (vae_score with importance samples: only after
 *            vae_set_num_threads(1)); vae_free must not race with them
 *
 * Ownership: vae_load allocates the model and the caller frees it with vae_free (NULL is
 * allowed). Every buffer stays the caller's; the library keeps no pointer to one after a call
 * returns. The strings vae_last_error and vae_version return belong to the library.
 *
 * Errors: each function returns VAE_OK or an error code, and then vae_last_error() gives one
 * line saying what was wrong ("mu: has 3 rows, x has 4"). The message is per thread: it
 * describes the last failed call made on the calling thread and stays until the next one fails.
 * No function aborts on bad input and no C++ exception crosses this boundary.
 */
#ifndef VAE_VAE_H
#define VAE_VAE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Marks the functions a shared build of the library exports. */
#if defined(__GNUC__)
#define VAE_C_API __attribute__((visibility("default")))
#else
#define VAE_C_API
#endif

/** A loaded model (opaque). */
typedef struct vae_model vae_model;

typedef enum vae_status {
  VAE_OK = 0,
  /** a shape, label, option or null pointer the call cannot take */
  VAE_ERROR_INVALID_ARGUMENT = 1,
  /** the checkpoint file is missing, unreadable or malformed */
  VAE_ERROR_LOAD = 2,
  VAE_ERROR_OUT_OF_MEMORY = 3,
  /** anything else (a defect: please report the message) */
  VAE_ERROR_INTERNAL = 4
} vae_status;

/** A read-only row-major matrix of the caller's: rows x cols floats at data. */
typedef struct vae_cview {
  const float* data;
  size_t rows, cols;
} vae_cview;

/** A writable row-major matrix of the caller's. */
typedef struct vae_view {
  float* data;
  size_t rows, cols;
} vae_view;

/** One class label per row (conditional models), or {NULL, 0}. */
typedef struct vae_labels {
  const int32_t* data;
  size_t size;
} vae_labels;

/** The labels argument of calls on unconditional models. */
#ifdef __cplusplus
#define VAE_NO_LABELS (vae_labels{nullptr, 0})
#else
#define VAE_NO_LABELS ((vae_labels){NULL, 0})
#endif

/** The library's version, "MAJOR.MINOR.PATCH". */
VAE_C_API const char* vae_version(void);
/** The message of the last call that failed on this thread, or "" when none has. */
VAE_C_API const char* vae_last_error(void);

/** Threads BLAS may use inside each call; n <= 0 means one per core. A program calling from
 *  many threads at once usually wants 1. Process-wide. */
VAE_C_API void vae_set_num_threads(int n);

/** Loads a checkpoint (full, or weights-only from `vae export --weights-only`) into *out. */
VAE_C_API vae_status vae_load(const char* path, vae_model** out);
/** Frees a model from vae_load; NULL does nothing. */
VAE_C_API void vae_free(vae_model* model);

VAE_C_API size_t vae_input_dim(const vae_model* model);  /**< D, the values per example */
VAE_C_API size_t vae_latent_dim(const vae_model* model); /**< Z */
VAE_C_API int vae_num_classes(const vae_model* model);   /**< Y, or 0 for an unconditional model */

/** Posterior parameters: x (B, D) -> mu (B, Z), logvar (B, Z). */
VAE_C_API vae_status vae_encode(const vae_model* model, vae_cview x, vae_view mu, vae_view logvar,
                                vae_labels labels);
/** Decoder means in data units: z (B, Z) -> x (B, D). */
VAE_C_API vae_status vae_decode(const vae_model* model, vae_cview z, vae_view x, vae_labels labels);
/** x.rows draws from the prior p(z) (N(0, I), or the VampPrior's mixture; seeded), decoded:
 *  x (B, D). */
VAE_C_API vae_status vae_sample(const vae_model* model, uint64_t seed, vae_view x,
                                vae_labels labels);
/** Decoder means at the posterior means: x (B, D) -> x_hat (B, D). */
VAE_C_API vae_status vae_reconstruct(const vae_model* model, vae_cview x, vae_view x_hat,
                                     vae_labels labels);
/** Per-example scores (B, 1), nats, lower is better: -ELBO when importance_samples is 0, else
 *  -log p(x) estimated with that many importance samples; seed fixes the estimate's noise
 *  (vae_default_seed() is what `vae score` uses). */
VAE_C_API vae_status vae_score(const vae_model* model, vae_cview x, vae_view scores,
                               int importance_samples, uint64_t seed, vae_labels labels);
/** The seed `vae eval` and `vae score` use for their estimates. */
VAE_C_API uint64_t vae_default_seed(void);

#ifdef __cplusplus
}
#endif

#endif /* VAE_VAE_H */
