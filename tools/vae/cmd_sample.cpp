// vae sample: decode draws from the prior into a PNG grid.
#include <cstdio>

#include "cli.h"
#include "vae/pictures.h"
#include "vae/trainer.h"

namespace vae_cli {

namespace {

struct SampleArgs {
  std::string checkpoint;
  int n = 64;
  int cols = 8;
  std::string out = "samples.png";
  uint64_t seed = 1;
  int threads = 0;
};

int run_sample(const SampleArgs& a) {
  apply_threads(a.threads);
  if (a.n < 1 || a.n > 100000) throw UsageError("-n: must be in 1..100000, got " + std::to_string(a.n));
  if (a.cols < 1) throw UsageError("--cols: must be >= 1");
  if (!ends_with(a.out, ".png")) throw UsageError("--out: must name a .png file, got '" + a.out + "'");
  check_output_path(a.out, "--out");
  const vae::Checkpoint ckpt = vae::load_checkpoint(a.checkpoint);
  vae::Vae<float> model = vae::model_from_checkpoint(ckpt, 256);
  vae::write_png(a.out, vae::sample_grid(model, a.n, a.seed, a.cols));
  std::printf("wrote %d samples to %s\n", a.n, a.out.c_str());
  return 0;
}

}  // namespace

Command add_sample(CLI::App& root) {
  auto args = std::make_shared<SampleArgs>();
  CLI::App* app = root.add_subcommand("sample", "Decode z ~ N(0, I) to a PNG grid of decoder means");
  add_checkpoint_argument(app, &args->checkpoint);
  app->add_option("-n", args->n, "number of samples");
  app->add_option("--cols", args->cols, "images per grid row");
  app->add_option("--out", args->out, "PNG file to write");
  app->add_option("--seed", args->seed, "seed for z");
  add_threads_option(app, &args->threads);
  return {app, [args] { return run_sample(*args); }};
}

}  // namespace vae_cli
