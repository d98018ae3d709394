// The C API (include/vae/vae.h) over the inference API (include/vae/infer.h): every entry point
// catches whatever the C++ side throws, keeps its message in this thread's last error, and
// returns a status code.
#include <new>
#include <string>

#include "vae/error.h"
#include "vae/eval.h"
#include "vae/infer.h"
#include "vae/runtime.h"
#include "vae/vae.h"

struct vae_model {
  vae::Model model;
};

namespace {

thread_local std::string g_last_error;

vae_status fail(vae_status status, const char* message) {
  try {
    g_last_error = message;
  } catch (...) {  // no memory for the message: the status still says what happened
  }
  return status;
}

// Runs f, mapping exceptions to status codes (`on_error` for vae::Error).
template <class F>
vae_status guarded(vae_status on_error, F f) {
  try {
    f();
    return VAE_OK;
  } catch (const vae::Error& e) {
    return fail(on_error, e.what());
  } catch (const std::bad_alloc&) {
    return fail(VAE_ERROR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(VAE_ERROR_INTERNAL, e.what());
  } catch (...) {
    return fail(VAE_ERROR_INTERNAL, "unknown error");
  }
}

// Runs f(model) on a non-null model; bad arguments are VAE_ERROR_INVALID_ARGUMENT.
template <class F>
vae_status with_model(const vae_model* m, F f) {
  if (!m) return fail(VAE_ERROR_INVALID_ARGUMENT, "model: null");
  return guarded(VAE_ERROR_INVALID_ARGUMENT, [&] { f(m->model); });
}

vae::ConstView in(vae_cview v) { return {v.data, v.rows, v.cols}; }
vae::MutView out(vae_view v) { return {v.data, v.rows, v.cols}; }
vae::LabelView labels_of(vae_labels l) { return {l.data, l.size}; }

}  // namespace

extern "C" {

const char* vae_version(void) { return VAE_VERSION_STRING; }
const char* vae_last_error(void) { return g_last_error.c_str(); }
void vae_set_num_threads(int n) { vae::set_num_threads(n); }
uint64_t vae_default_seed(void) { return vae::kEvalSeed; }

vae_status vae_load(const char* path, vae_model** out_model) {
  if (!out_model) return fail(VAE_ERROR_INVALID_ARGUMENT, "out: null");
  *out_model = nullptr;
  if (!path) return fail(VAE_ERROR_INVALID_ARGUMENT, "path: null");
  return guarded(VAE_ERROR_LOAD, [&] { *out_model = new vae_model{vae::Model::load(path)}; });
}

void vae_free(vae_model* model) { delete model; }

size_t vae_input_dim(const vae_model* m) { return m ? m->model.input_dim() : 0; }
size_t vae_latent_dim(const vae_model* m) { return m ? m->model.latent() : 0; }
int vae_num_classes(const vae_model* m) { return m ? m->model.num_classes() : 0; }

vae_status vae_encode(const vae_model* m, vae_cview x, vae_view mu, vae_view logvar,
                      vae_labels labels) {
  return with_model(m, [&](const vae::Model& model) {
    model.encode(in(x), out(mu), out(logvar), labels_of(labels));
  });
}

vae_status vae_decode(const vae_model* m, vae_cview z, vae_view x, vae_labels labels) {
  return with_model(
      m, [&](const vae::Model& model) { model.decode(in(z), out(x), labels_of(labels)); });
}

vae_status vae_sample(const vae_model* m, uint64_t seed, vae_view x, vae_labels labels) {
  return with_model(
      m, [&](const vae::Model& model) { model.sample(seed, out(x), labels_of(labels)); });
}

vae_status vae_reconstruct(const vae_model* m, vae_cview x, vae_view x_hat, vae_labels labels) {
  return with_model(
      m, [&](const vae::Model& model) { model.reconstruct(in(x), out(x_hat), labels_of(labels)); });
}

vae_status vae_score(const vae_model* m, vae_cview x, vae_view scores, int importance_samples,
                     uint64_t seed, vae_labels labels) {
  return with_model(m, [&](const vae::Model& model) {
    vae::ScoreOptions opts;
    opts.importance_samples = importance_samples;
    opts.seed = seed;
    model.score(in(x), out(scores), opts, labels_of(labels));
  });
}

}  // extern "C"
