// vae interpolate: decode the straight and the great-circle paths between two codes.
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

struct InterpolateArgs {
  std::string checkpoint;
  std::string data;
  std::string split = "test";
  long long from = 0, to = 1;
  bool random = false;
  uint64_t seed = 1;
  int steps = 10;
  std::string out = "interpolation.png";
  int threads = 0;
  int label = -1;
};

int run_interpolate(const InterpolateArgs& a, CLI::App* app) {
  apply_threads(a.threads);
  if (a.steps < 2 || a.steps > 100)
    throw UsageError("--steps: must be in 2..100, got " + std::to_string(a.steps));
  if (a.random && (app->count("--from") || app->count("--to")))
    throw UsageError("--random: cannot be combined with --from or --to");
  if (!a.random && a.from < 0)
    throw UsageError("--from: must be >= 0, got " + std::to_string(a.from));
  if (!a.random && a.to < 0) throw UsageError("--to: must be >= 0, got " + std::to_string(a.to));
  output_format(a.out, {".png"});
  const vae::Checkpoint ckpt = vae::load_checkpoint(a.checkpoint);
  require_pictures(ckpt, a.checkpoint);
  vae::Vae<float> model = vae::model_from_checkpoint(ckpt, 256);
  const size_t Z = ckpt.model.latent;
  std::vector<float> z(2 * Z), logvar(2 * Z);  // (2, Z): the two ends
  if (a.random) {
    apply_label(model, a.label);
    vae::Rng rng(a.seed);
    model.sample_prior(z.data(), 2, rng);  // the two ends ~ p(z)
    vae::write_png(a.out, vae::interpolation_grid(model, z.data(), z.data() + Z, a.steps));
    std::printf(
        "wrote linear and spherical interpolations (%d steps) between two z ~ %s to %s\n",
        a.steps, ckpt.model.prior == vae::Prior::Standard ? "N(0, I)" : "the prior",
        a.out.c_str());
    return 0;
  }
  const std::string spec = a.data.empty() ? ckpt.train.data.data : a.data;
  const vae::Dataset data = load_split_for(ckpt, spec, a.split);
  for (const auto& [option, index] :
       {std::pair<const char*, long long>{"--from", a.from}, {"--to", a.to}})
    if (static_cast<size_t>(index) >= data.n)
      throw UsageError(std::string(option) + ": example " + std::to_string(index) +
                       " is out of range (the " + a.split + " split has " + std::to_string(data.n) +
                       " examples)");
  model.encode(data.row(a.from), 1, z.data(), logvar.data(), data.label_ptr(a.from));
  model.encode(data.row(a.to), 1, z.data() + Z, logvar.data() + Z, data.label_ptr(a.to));
  apply_label(model, a.label, data.labels.empty() ? 0 : data.labels[a.from]);
  vae::write_png(a.out,
                 vae::interpolation_grid(model, z.data(), z.data() + Z, a.steps, data.row(a.from),
                                         data.row(a.to), "#" + std::to_string(a.from),
                                         "#" + std::to_string(a.to)));
  std::printf(
      "wrote linear and spherical interpolations (%d steps) between %s examples %lld and "
      "%lld to %s\n",
      a.steps, a.split.c_str(), a.from, a.to, a.out.c_str());
  return 0;
}

}  // namespace

Command add_interpolate(CLI::App& root) {
  auto args = std::make_shared<InterpolateArgs>();
  CLI::App* app = root.add_subcommand(
      "interpolate",
      "Decode the linear and the spherical (slerp) path between the encodings of two examples, "
      "or two random codes, to a PNG: one row each, the originals at the ends");
  add_checkpoint_argument(app, &args->checkpoint);
  add_data_options(app, &args->data, &args->split);
  app->add_option("--from", args->from, "index of the first example");
  app->add_option("--to", args->to, "index of the second example");
  app->add_flag("--random", args->random, "interpolate between two z ~ N(0, I) instead");
  add_seed_option(app, &args->seed, "seed for --random");
  app->add_option("--steps", args->steps, "decoded points per path, ends included");
  app->add_option("--out", args->out, "PNG file to write");
  add_label_option(app, &args->label, "the class of --from; 0 with --random");
  add_threads_option(app, &args->threads);
  return {app, [args, app] { return run_interpolate(*args, app); }};
}

}  // namespace vae_cli
