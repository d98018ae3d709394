// vae manifold: decode a grid over the prior's quantiles (Z = 2) or over the two principal
// directions of the encodings (Z > 2).
#include <cstdio>
#include <vector>

#include "cli.h"
#include "io/png.h"
#include "vae/checkpoint.h"
#include "vae/error.h"
#include "viz/viz.h"

namespace vae_cli {

namespace {

struct ManifoldArgs {
  std::string checkpoint;
  std::string data;
  std::string split = "test";
  int size = 20;
  std::string out = "manifold.png";
  int threads = 0;
  int label = -1;
};

int run_manifold(const ManifoldArgs& a) {
  apply_threads(a.threads);
  if (a.size < 2 || a.size > 100)
    throw UsageError("--size: must be in 2..100, got " + std::to_string(a.size));
  output_format(a.out, {".png"});
  const vae::Checkpoint ckpt = vae::load_checkpoint(a.checkpoint);
  require_pictures(ckpt, a.checkpoint);
  vae::Vae<float> model = vae::model_from_checkpoint(ckpt, 256);
  const size_t Z = ckpt.model.latent;
  apply_label(model, a.label);
  if (Z <= 2) {
    vae::write_png(a.out, vae::manifold_grid(model, a.size));
    std::printf("wrote the decoded %dx%d grid over the prior's quantiles to %s\n",
                Z == 2 ? a.size : 1, a.size, a.out.c_str());
    return 0;
  }
  const std::string spec = a.data.empty() ? ckpt.train.data.data : a.data;
  const vae::Dataset data = load_split_for(ckpt, spec, a.split);
  if (data.n < 2)
    throw vae::Error(spec + ": the " + a.split + " split needs at least 2 examples for PCA");
  std::vector<float> mu(data.n * Z), logvar(data.n * Z);  // (N, Z) each
  model.encode(data.x.data(), data.n, mu.data(), logvar.data(), data.label_ptr(0));
  const vae::Pca pca = vae::principal_components(mu.data(), data.n, static_cast<int>(Z), 2);
  vae::write_png(a.out, vae::manifold_grid(model, a.size, &pca));
  const double share = pca.total_variance > 0
                           ? 100.0 * (pca.variances[0] + pca.variances[1]) / pca.total_variance
                           : 0.0;
  std::printf(
      "wrote the decoded %dx%d grid over the two principal directions of %zu %s "
      "encodings (%.1f%% of their variance) to %s\n",
      a.size, a.size, data.n, a.split.c_str(), share, a.out.c_str());
  return 0;
}

}  // namespace

Command add_manifold(CLI::App& root) {
  auto args = std::make_shared<ManifoldArgs>();
  CLI::App* app = root.add_subcommand(
      "manifold",
      "Decode a SIZE x SIZE grid to a PNG: over the prior's quantiles for a 2-D latent, else over "
      "the two directions of largest variance of the encodings");
  add_checkpoint_argument(app, &args->checkpoint);
  app->add_option("--data", args->data,
                  "data for the principal directions when Z > 2 (default: the training data)");
  app->add_option("--split", args->split, "which split: test, train or val");
  app->add_option("--size", args->size, "images per side of the grid");
  app->add_option("--out", args->out, "PNG file to write");
  add_label_option(app, &args->label, "0");
  add_threads_option(app, &args->threads);
  return {app, [args] { return run_manifold(*args); }};
}

}  // namespace vae_cli
