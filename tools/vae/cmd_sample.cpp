// vae sample: decode draws from the prior into a PNG grid.
#include <algorithm>
#include <cstdio>
#include <vector>

#include "cli.h"
#include "io/png.h"
#include "vae/checkpoint.h"
#include "vae/error.h"
#include "vae/rng.h"
#include "viz/viz.h"

namespace vae_cli {

namespace {

struct SampleArgs {
  std::string checkpoint;
  int n = 64;
  int cols = 8;
  std::string out = "samples.png";
  uint64_t seed = 1;
  int threads = 0;
  int label = -1;
};

int run_sample(const SampleArgs& a) {
  apply_threads(a.threads);
  if (a.n < 1) throw UsageError("-n: must be >= 1, got " + std::to_string(a.n));
  check_picture_count(static_cast<size_t>(a.n), "-n " + std::to_string(a.n));
  if (a.cols < 1) throw UsageError("--cols: must be >= 1");
  output_format(a.out, {".png"});
  const vae::Checkpoint ckpt = vae::load_checkpoint(a.checkpoint);
  require_pictures(ckpt, a.checkpoint);
  vae::Vae<float> model = vae::model_from_checkpoint(ckpt, 256);
  apply_label(model, a.label);
  const vae::ModelConfig& c = ckpt.model;
  if (c.num_classes > 0 && a.label < 0) {
    // One row of --cols samples per class.
    vae::write_png(a.out, vae::sample_grid(model, a.n, a.seed, a.cols));
    std::printf("wrote %d samples for each of the %d classes (one row per class) to %s\n", a.cols,
                c.num_classes, a.out.c_str());
    return 0;
  }
  if (c.num_classes > 0) {
    vae::Rng rng(a.seed);
    std::vector<float> z(static_cast<size_t>(a.n) * c.latent);    // (n, Z)
    std::vector<float> x(static_cast<size_t>(a.n) * c.input_dim);  // (n, D)
    rng.normal_fill(z.data(), z.size());
    model.decode(z.data(), a.n, x.data());  // with the default label: --label
    vae::write_png(a.out, vae::make_grid(x.data(), a.n, c.height, c.width, c.channels,
                                         std::min(a.cols, a.n)));
    std::printf("wrote %d samples of class %d to %s\n", a.n, a.label, a.out.c_str());
    return 0;
  }
  vae::write_png(a.out, vae::sample_grid(model, a.n, a.seed, a.cols));
  std::printf("wrote %d samples to %s\n", a.n, a.out.c_str());
  return 0;
}

}  // namespace

Command add_sample(CLI::App& root) {
  auto args = std::make_shared<SampleArgs>();
  CLI::App* app = root.add_subcommand(
      "sample",
      "Decode z drawn from the model's prior (N(0, I), the VampPrior's mixture, or p(z2) "
      "p(z1|z2)) to a PNG grid of decoder means");
  add_checkpoint_argument(app, &args->checkpoint);
  app->add_option("-n", args->n, "number of samples");
  app->add_option("--cols", args->cols, "images per grid row");
  app->add_option("--out", args->out, "PNG file to write");
  add_seed_option(app, &args->seed, "seed for z");
  add_label_option(app, &args->label, "one row of --cols samples per class");
  add_threads_option(app, &args->threads);
  return {app, [args] { return run_sample(*args); }};
}

}  // namespace vae_cli
