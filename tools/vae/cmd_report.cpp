// vae report: one self-contained HTML page about a run.
#include <cstdio>
#include <filesystem>

#include "cli.h"
#include "train_options.h"
#include "vae/error.h"
#include "vae/trainer.h"
#include "viz/report.h"

namespace vae_cli {

namespace {

struct ReportArgs {
  std::string run;
  std::string data;
  long long points = 5000;
  int threads = 0;
};

int run_report(const ReportArgs& a) {
  apply_threads(a.threads);
  if (a.points < 1) throw UsageError("--points: must be >= 1, got " + std::to_string(a.points));
  std::error_code ec;
  if (!std::filesystem::is_directory(a.run, ec)) throw vae::Error(a.run + ": not a folder");
  const vae::Checkpoint ckpt =
      vae::load_checkpoint((std::filesystem::path(a.run) / vae::kLastCheckpoint).string());
  vae::ReportOptions options;
  options.command = reproduce_command(ckpt, a.run);
  options.data_spec = a.data.empty() ? ckpt.train.data.data : a.data;
  options.split = "test";
  options.scatter_points = static_cast<size_t>(a.points);
  const vae::Dataset examples = load_split_for(ckpt, options.data_spec, options.split);
  const std::string path = vae::write_report(a.run, examples, options);
  std::printf("wrote %s\n", path.c_str());
  return 0;
}

}  // namespace

Command add_report(CLI::App& root) {
  auto args = std::make_shared<ReportArgs>();
  CLI::App* app = root.add_subcommand(
      "report",
      "Write RUN_DIR/report.html: configuration, command line, metrics, loss curves, samples, "
      "reconstructions, interpolations, traversals, latent map, manifold and per-dimension KL, "
      "in one self-contained page (also written at the end of `vae train`)");
  app->add_option("run", args->run, "run folder (holds last.safetensors and metrics.jsonl)")
      ->required();
  app->add_option("--data", args->data, "data (default: the data the run was trained on)");
  app->add_option("--points", args->points, "test examples in the latent map");
  add_threads_option(app, &args->threads);
  return {app, [args] { return run_report(*args); }};
}

}  // namespace vae_cli
