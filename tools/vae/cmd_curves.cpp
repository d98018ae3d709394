// vae curves: loss curves of a run from its metrics.jsonl.
#include <cstdio>
#include <filesystem>

#include "cli.h"
#include "io/fileio.h"
#include "io/png.h"
#include "vae/error.h"
#include "vae/trainer.h"
#include "viz/plot.h"
#include "viz/report.h"

namespace vae_cli {

namespace {

struct CurvesArgs {
  std::string run;
  std::string out = "loss_curves.svg";
};

int run_curves(const CurvesArgs& a) {
  const bool svg = output_format(a.out, {".svg", ".png"}) == ".svg";
  std::error_code ec;
  const std::string path = std::filesystem::is_directory(a.run, ec)
                               ? (std::filesystem::path(a.run) / vae::kMetricsFile).string()
                               : a.run;
  const std::vector<vae::EpochMetrics> metrics = vae::read_metrics(path);
  if (metrics.empty()) throw vae::Error(path + ": no epochs recorded");
  const vae::Figure fig = vae::loss_curves_figure(metrics);
  if (svg)
    vae::write_file_atomic(a.out, vae::figure_svg(fig));
  else
    vae::write_png(a.out, vae::figure_png(fig));
  std::printf("wrote loss curves of %zu epochs to %s\n", metrics.size(), a.out.c_str());
  return 0;
}

}  // namespace

Command add_curves(CLI::App& root) {
  auto args = std::make_shared<CurvesArgs>();
  CLI::App* app = root.add_subcommand(
      "curves",
      "Plot train and test -ELBO, reconstruction and KL per epoch from a run's metrics.jsonl "
      "(SVG or PNG)");
  app->add_option("run", args->run, "run folder, or its metrics.jsonl")->required();
  app->add_option("--out", args->out, "file to write: .svg or .png");
  return {app, [args] { return run_curves(*args); }};
}

}  // namespace vae_cli
