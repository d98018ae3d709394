// vae traverse: sweep each latent dimension in turn, the others held at one example's encoding.
#include <cstdio>
#include <vector>

#include "cli.h"
#include "eval/latent_stats.h"
#include "io/png.h"
#include "vae/checkpoint.h"
#include "vae/error.h"
#include "viz/viz.h"

namespace vae_cli {

namespace {

struct TraverseArgs {
  std::string checkpoint;
  std::string data;
  std::string split = "test";
  long long index = 0;
  double range = 3.0;
  int steps = 11;
  int dims = 0;
  std::string out = "traverse.png";
  int threads = 0;
  int label = -1;
};

int run_traverse(const TraverseArgs& a) {
  apply_threads(a.threads);
  if (!(a.range > 0 && a.range <= 100))
    throw UsageError("--range: must be in (0, 100], got " + std::to_string(a.range));
  if (a.steps < 2 || a.steps > 100)
    throw UsageError("--steps: must be in 2..100, got " + std::to_string(a.steps));
  if (a.dims < 0) throw UsageError("--dims: must be >= 0, got " + std::to_string(a.dims));
  if (a.index < 0) throw UsageError("--index: must be >= 0, got " + std::to_string(a.index));
  output_format(a.out, {".png"});
  const vae::Checkpoint ckpt = vae::load_checkpoint(a.checkpoint);
  require_pictures(ckpt, a.checkpoint);
  const std::string spec = a.data.empty() ? ckpt.train.data.data : a.data;
  const vae::Dataset data = load_split_for(ckpt, spec, a.split);
  if (static_cast<size_t>(a.index) >= data.n)
    throw UsageError("--index: example " + std::to_string(a.index) + " is out of range (the " +
                     a.split + " split has " + std::to_string(data.n) + " examples)");
  vae::Vae<float> model = vae::model_from_checkpoint(ckpt, 256);
  const size_t Z = ckpt.model.latent;
  // Rows by KL over the whole split; the base code is the example's posterior mean.
  const vae::LatentStats stats = vae::latent_stats(model, data);
  std::vector<vae::TraversalRow> rows = vae::traversal_order(stats);
  if (a.dims > 0 && static_cast<size_t>(a.dims) < rows.size()) rows.resize(a.dims);
  std::vector<float> base(Z), logvar(Z);  // (Z) each
  model.encode(data.row(a.index), 1, base.data(), logvar.data(), data.label_ptr(a.index));
  apply_label(model, a.label, data.labels.empty() ? 0 : data.labels[a.index]);
  vae::write_png(a.out, vae::traversal_grid(model, base.data(), rows, a.range, a.steps));
  std::printf(
      "wrote %zu of %zu latent dimensions swept over [-%g, %g] around %s example %lld "
      "to %s (%d active)\n",
      rows.size(), Z, a.range, a.range, a.split.c_str(), a.index, a.out.c_str(),
      stats.active_units);
  for (const vae::TraversalRow& r : rows)
    std::printf("  z%-4d KL %8.4f  Var mu %8.4f  %s\n", r.dim + 1, r.kl, r.mu_variance,
                r.collapsed ? "collapsed" : "active");
  return 0;
}

}  // namespace

Command add_traverse(CLI::App& root) {
  auto args = std::make_shared<TraverseArgs>();
  CLI::App* app = root.add_subcommand(
      "traverse",
      "One PNG row per latent dimension (sorted by KL, collapsed ones marked): the dimension swept "
      "over [-range, range] while the others stay at an example's posterior mean");
  add_checkpoint_argument(app, &args->checkpoint);
  add_data_options(app, &args->data, &args->split);
  app->add_option("--index", args->index, "example whose encoding is the base code");
  app->add_option("--range", args->range, "sweep z_j over [-range, range]");
  app->add_option("--steps", args->steps, "values per row, ends included");
  app->add_option("--dims", args->dims, "show only the DIMS dimensions with the most KL (0 = all)");
  app->add_option("--out", args->out, "PNG file to write");
  add_label_option(app, &args->label, "the class of --index");
  add_threads_option(app, &args->threads);
  return {app, [args] { return run_traverse(*args); }};
}

}  // namespace vae_cli
