// The `vae` command: one file per subcommand, each registering its option table and returning
// the function that runs it. Exit codes (README, "Exit codes"), sorted in main.cpp alone: 0
// success; 2 the command line is wrong (CLI11's parse errors, a UsageError, or a
// vae::FieldError, named by its flag: malformed or out-of-range values, an --out the command
// cannot write); 1 the command line is fine but a file, the data or the run failed (any other
// vae::Error); 128 + signal for a training run stopped by SIGINT/SIGTERM. Errors are one line
// on stderr.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vae/checkpoint.h"
#include "vae/dataset.h"
#include "vae/model.h"

namespace vae_cli {

/// A bad option value: exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A failure every rank of a distributed run (`mpirun ... vae train`) agreed on before the work
/// began (run_agreed): the same message and code on every rank; rank 0 alone prints it.
class AgreedFailure : public std::runtime_error {
 public:
  AgreedFailure(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

/// Runs `prepare` on every rank and then agrees: when it failed on any rank (an error main.cpp
/// would report), every rank throws AgreedFailure with the first failing rank's message ("rank
/// R: ..." when R is not 0) and exit code. Not distributed: runs `prepare` as it is.
void run_agreed(const std::function<void()>& prepare);

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

Command add_train(CLI::App& root);
Command add_eval(CLI::App& root);
Command add_sample(CLI::App& root);
Command add_reconstruct(CLI::App& root);
Command add_encode(CLI::App& root);
Command add_decode(CLI::App& root);
Command add_info(CLI::App& root);
// Pictures of what a model learned, and the run report (src/viz/viz.h, plot.h, report.h).
Command add_interpolate(CLI::App& root);
Command add_traverse(CLI::App& root);
Command add_manifold(CLI::App& root);
Command add_latents(CLI::App& root);
Command add_curves(CLI::App& root);
Command add_report(CLI::App& root);
Command add_score(CLI::App& root);
Command add_export(CLI::App& root);
Command add_import(CLI::App& root);
// The HTTP service (src/serve).
Command add_serve(CLI::App& root);

/// The positional CHECKPOINT argument every subcommand that reads a run has; a run folder given
/// there stands for its checkpoint (checkpoint_in).
void add_checkpoint_argument(CLI::App* app, std::string* checkpoint);
/// `path` itself, or for a folder its best.safetensors, else its last.safetensors. Throws
/// vae::Error naming a folder that holds neither.
std::string checkpoint_in(const std::string& path);
/// --data and --split, as load_split_for reads them (split: test, train or val).
void add_data_options(CLI::App* app, std::string* data, std::string* split);

/// The --threads option every computing subcommand has (0 = all cores), and its help.
void add_threads_option(CLI::App* app, int* threads);
std::string threads_help();
/// Applies --threads; rejects negative counts.
void apply_threads(int threads);

/// --seed S, an integer >= 0 (CLI11 alone would read -1 as 2^64 − 1).
void add_seed_option(CLI::App* app, uint64_t* seed, const std::string& help);

/// --label L: the class a conditional model decodes with (default -1: not given).
void add_label_option(CLI::App* app, int* label, const std::string& when_absent);
/// Sets a conditional model's default label to `label` when given (>= 0), else to `fallback`.
/// Throws UsageError when --label is out of the model's range, or given for a model that is not
/// conditional.
void apply_label(vae::Vae<float>& model, int label, int fallback = 0);

/// The data a command works on, as the run's model saw such data. With `data_spec` equal to the
/// run's --data: the run's own "train", "val" or "test" split, re-created from the checkpoint.
/// Any other source is taken whole (an MNIST folder: its train or test files, by `split`).
/// Either way the run's scaling is applied, values are checked against the likelihood, and
/// the rows are binarised once with the fixed test seed when the run binarised dynamically.
/// The run's own data are named by any path to the same file ("./x.csv", "x.csv", an absolute
/// path); when they changed since training (DataFingerprint) vae::Error says so. Another file
/// holding the run's rows is used whole, with a warning line on stderr. With `out_of_range`
/// non-null, it receives per row the count of values outside the training range (empty when the
/// checkpoint does not know the range).
vae::Dataset load_split_for(const vae::Checkpoint& ckpt, const std::string& data_spec,
                            const std::string& split,
                            std::vector<uint32_t>* out_of_range = nullptr);

/// "3 of 20 examples hold values outside the range of the training rows (column out_of_range
/// of vae score counts them per example); their scores ..." for per-row counts from
/// load_split_for, or "" when none is outside (or the range is unknown).
std::string out_of_range_warning(const std::vector<uint32_t>& outside);

/// Whether `data_spec` names the run's own --data (the same file, however the path is written).
bool is_run_data(const vae::Checkpoint& ckpt, const std::string& data_spec);

/// A picture command's check that the model in `checkpoint` has pictures: for a model of
/// non-image data the command line asks for what cannot be written, a UsageError (exit 2)
/// pointing to arrays instead (vae encode / decode to .npy).
void require_pictures(const vae::Checkpoint& ckpt, const std::string& checkpoint);

/// The most images one PNG grid holds (sample, reconstruct, decode): 10,000 28x28 images make a
/// 7.8-megapixel picture; arrays of any size come as .npy (vae encode, vae decode --out F.npy).
inline constexpr size_t kMaxGridImages = 10000;
/// UsageError "<what>: a picture of N images is too large..." when n > kMaxGridImages.
void check_picture_count(size_t n, const std::string& what);

/// Checks that a data set fits a model (same number of values per example).
void check_fits(const vae::Dataset& data, const vae::ModelConfig& cfg, const std::string& what);

/// Before any work is done: refuses to write where the folder of `path` does not exist, or where
/// `path` is a folder, a socket or a block device (vae::Error). "-" is standard output: the
/// data go there, and the command's own messages move to stderr.
void check_output_path(const std::string& path, const std::string& option);

/// What a command writes to `path`, one of `formats` (extensions: {".png", ".svg"}): the one
/// it ends with; for "-", a character device or a FIFO (/dev/null, a pipe), which no extension
/// names, the first. Any other path: UsageError listing the formats. Then check_output_path.
std::string output_format(const std::string& path, const std::vector<std::string>& formats,
                          const std::string& option = "--out");

/// A one-line progress indicator for long work, drawn on stderr only when it is a terminal,
/// redrawn at most ten times a second: "label [#####.....] done/total  detail  ETA m:ss", where
/// detail is the caller's text or, by default, the rate ("123/s").
class ProgressLine {
 public:
  explicit ProgressLine(std::string label);
  ~ProgressLine();  ///< clears the line
  void update(size_t done, size_t total, const std::string& detail = "");
  /// Clears the line and starts over (new label, ETA measured from now).
  void restart(std::string label);
  void clear();

 private:
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  double start_s_, last_s_ = -1;
};

/// "m:ss" or "h:mm:ss"; "?" for a negative or absurd count.
std::string format_duration(double seconds);

/// True when `path` ends with `suffix` (case-sensitive).
bool ends_with(const std::string& path, const std::string& suffix);

}  // namespace vae_cli
