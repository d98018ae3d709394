// vae reconstruct: originals above their reconstructions, as a PNG grid.
#include <cstdio>

#include "cli.h"
#include "vae/checkpoint.h"
#include "vae/error.h"
#include "viz/viz.h"

namespace vae_cli {

namespace {

struct ReconstructArgs {
  std::string checkpoint;
  std::string data;
  std::string split = "test";
  int n = 32;
  int cols = 8;
  std::string out = "reconstructions.png";
  int threads = 0;
};

int run_reconstruct(const ReconstructArgs& a) {
  apply_threads(a.threads);
  if (a.n < 1) throw UsageError("-n: must be >= 1, got " + std::to_string(a.n));
  check_picture_count(static_cast<size_t>(a.n), "-n " + std::to_string(a.n));
  if (a.cols < 1) throw UsageError("--cols: must be >= 1");
  output_format(a.out, {".png"});
  const vae::Checkpoint ckpt = vae::load_checkpoint(a.checkpoint);
  require_pictures(ckpt, a.checkpoint);
  const std::string spec = a.data.empty() ? ckpt.train.data.data : a.data;
  const vae::Dataset data = load_split_for(ckpt, spec, a.split);
  if (data.n == 0) throw vae::Error(spec + ": the " + a.split + " split is empty");
  vae::Vae<float> model = vae::model_from_checkpoint(ckpt, 256);
  vae::write_png(a.out, vae::reconstruction_grid(model, data, a.n, a.cols));
  std::printf("wrote %zu originals and reconstructions to %s\n",
              std::min<size_t>(a.n, data.n), a.out.c_str());
  return 0;
}

}  // namespace

Command add_reconstruct(CLI::App& root) {
  auto args = std::make_shared<ReconstructArgs>();
  CLI::App* app = root.add_subcommand(
      "reconstruct", "Encode the first N examples and decode their posterior means: originals above reconstructions");
  add_checkpoint_argument(app, &args->checkpoint);
  add_data_options(app, &args->data, &args->split);
  app->add_option("-n", args->n, "number of examples");
  app->add_option("--cols", args->cols, "images per grid row");
  app->add_option("--out", args->out, "PNG file to write");
  add_threads_option(app, &args->threads);
  return {app, [args] { return run_reconstruct(*args); }};
}

}  // namespace vae_cli
