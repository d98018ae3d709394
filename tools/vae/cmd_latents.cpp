// vae latents: a scatter plot of the encodings, coloured by label.
#include <cstdio>

#include "cli.h"
#include "io/fileio.h"
#include "io/png.h"
#include "vae/checkpoint.h"
#include "vae/error.h"
#include "viz/plot.h"
#include "viz/viz.h"

namespace vae_cli {

namespace {

struct LatentsArgs {
  std::string checkpoint;
  std::string data;
  std::string split = "test";
  long long n = 10000;
  std::string out = "latents.png";
  int threads = 0;
};

int run_latents(const LatentsArgs& a) {
  apply_threads(a.threads);
  if (a.n < 1) throw UsageError("-n: must be >= 1, got " + std::to_string(a.n));
  const bool svg = output_format(a.out, {".png", ".svg"}) == ".svg";
  const vae::Checkpoint ckpt = vae::load_checkpoint(a.checkpoint);
  if (ckpt.model.latent < 2)
    throw vae::Error(a.checkpoint +
                     ": the model has 1 latent dimension; a 2-D map needs at "
                     "least 2");
  const std::string spec = a.data.empty() ? ckpt.train.data.data : a.data;
  const vae::Dataset data = load_split_for(ckpt, spec, a.split);
  vae::Vae<float> model = vae::model_from_checkpoint(ckpt, 256);
  const vae::LatentMap map = vae::latent_map(model, data, static_cast<size_t>(a.n));
  const vae::Figure fig = vae::latent_scatter_figure(map, spec, ckpt.class_names);
  if (svg)
    vae::write_file_atomic(a.out, vae::figure_svg(fig));
  else
    vae::write_png(a.out, vae::figure_png(fig));
  std::printf("wrote the posterior means of %zu %s examples (%s) to %s\n", map.xy.size() / 2,
              a.split.c_str(), map.from_pca ? "first two principal components" : "z1, z2",
              a.out.c_str());
  return 0;
}

}  // namespace

Command add_latents(CLI::App& root) {
  auto args = std::make_shared<LatentsArgs>();
  CLI::App* app = root.add_subcommand(
      "latents",
      "Scatter plot of the posterior means (2-D, or the first two principal components), "
      "coloured by label with the classes named; PNG or SVG");
  add_checkpoint_argument(app, &args->checkpoint);
  add_data_options(app, &args->data, &args->split);
  app->add_option("-n", args->n, "plot at most the first N examples");
  app->add_option("--out", args->out, "file to write: .png or .svg");
  add_threads_option(app, &args->threads);
  return {app, [args] { return run_latents(*args); }};
}

}  // namespace vae_cli
