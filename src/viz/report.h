// One self-contained HTML page per run: RUN_DIR/report.html shows the configuration, the command
// that reproduces the run (ReportOptions::command), the final metrics, loss curves, samples,
// reconstructions, interpolations, traversals, the latent map and manifold, and the per-dimension
// KL. PNGs are embedded as base64 data: URIs and plots as inline SVG, so the page makes no
// requests.
//
// The pictures are also written beside it, each atomically: interpolations.png, traversals.png,
// manifold.png, loss_curves.svg, latents.svg, kl_per_dim.svg (and samples.png and
// reconstructions.png when the run folder lacks them).
#pragma once

#include <fnmatch.h>

#include <cstddef>
#include <iterator>
#include <string>
#include <vector>

#include "vae/checkpoint.h"
#include "vae/dataset.h"
#include "vae/trainer.h"

namespace vae {

inline constexpr const char* kReportFile = "report.html";
/// Every file write_report may write into a run folder besides the report itself (and what
/// `vae train` writes of them: samples.png, reconstructions.png).
inline constexpr const char* kReportPictures[] = {
    "samples.png",  "reconstructions.png", "interpolations.png", "traversals.png",
    "manifold.png", "loss_curves.svg",     "latents.svg",        "kl_per_dim.svg"};

/// Every file a run writes into its folder: the checkpoints (kEpochCheckpointPattern, a
/// shell pattern, for the --save-every ones), metrics.jsonl, final.json, model.json, the report
/// and its pictures (what `vae train --overwrite` clears).
inline std::vector<std::string> run_file_names() {
  std::vector<std::string> names = {kLastCheckpoint, kBestCheckpoint, kEpochCheckpointPattern,
                                    kMetricsFile,    kFinalFile,      kModelDescriptionFile,
                                    kReportFile};
  names.insert(names.end(), std::begin(kReportPictures), std::end(kReportPictures));
  return names;
}

/// Whether a file name in a run folder is one a run writes: it matches a name or pattern of
/// run_file_names() (fnmatch).
inline bool is_run_file(const std::string& name) {
  for (const std::string& pattern : run_file_names())
    if (::fnmatch(pattern.c_str(), name.c_str(), 0) == 0) return true;
  return false;
}

/// Reads a metrics.jsonl file: one JSON object per non-blank line with the numbers epoch,
/// train_loss, train_recon, train_kl, test_loss, test_recon, test_kl (examples_per_s and seconds
/// optional, 0 when absent). Throws vae::Error "<path>:<line>: <what>" for a line that is not
/// such an object, and "<path>: cannot open (...)" when the file cannot be read.
std::vector<EpochMetrics> read_metrics(const std::string& path);

/// RFC 4648 base64 with '=' padding.
std::string base64_encode(const void* data, size_t n);

struct ReportOptions {
  std::string command;           ///< the shell command that reproduces the run, shown as it is
                                 ///< (the `vae` command writes it from its option table)
  std::string data_spec;         ///< the examples' --data spec (captions, class names); empty:
                                 ///< the checkpoint's own
  std::string split = "test";    ///< which split the examples are, for captions
  size_t scatter_points = 5000;  ///< examples in the latent map
  int interpolation_steps = 10;
  int traversal_steps = 11;
  double traversal_range = 3.0;
  int traversal_max_rows = 32;  ///< dimensions shown, the highest KL first
  int manifold_size = 20;
};

/// Writes run_dir/report.html (and the pictures beside it) for the run's last.safetensors and
/// metrics.jsonl. `examples` (N, D) are what the pictures and latent statistics are computed on,
/// as the run's data pipeline delivers them (scaled like the training data); when the run
/// binarised dynamically they are binarised here once with kTestBinarizeSeed, as evaluation
/// does (a no-op on data that are already binary). Everything is read and computed before the
/// first file is written. Returns the report's path. Throws vae::Error naming the file at fault
/// (no checkpoint, unreadable metrics) or when the examples do not fit the model or are none.
std::string write_report(const std::string& run_dir, const Dataset& examples,
                         const ReportOptions& options = {});

}  // namespace vae
