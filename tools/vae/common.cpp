#include <algorithm>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "cli.h"
#include "data/batcher.h"
#include "io/fileio.h"
#include "train/distributed.h"
#include "train_options.h"
#include "vae/data_pipeline.h"
#include "vae/error.h"
#include "vae/runtime.h"
#include "vae/trainer.h"

namespace vae_cli {

void run_agreed(const std::function<void()>& prepare) {
  if (!vae::distributed()) {
    prepare();
    return;
  }
  // This rank's failure as main.cpp would report it: exit code, then the message.
  std::string error;
  try {
    prepare();
  } catch (const vae::FieldError& e) {
    error = "2" + flag_message(e);
  } catch (const UsageError& e) {
    error = std::string("2") + e.what();
  } catch (const vae::Error& e) {
    error = std::string("1") + e.what();
  } catch (const std::bad_alloc&) {
    error = "1out of memory";
  }
  int failed = 0;
  const std::string agreed = vae::agree_ready(error, &failed);
  if (agreed.empty()) return;
  const std::string where = failed == 0 ? "" : "rank " + std::to_string(failed) + ": ";
  throw AgreedFailure(agreed[0] == '2' ? 2 : 1, where + agreed.substr(1));
}

void add_checkpoint_argument(CLI::App* app, std::string* checkpoint) {
  app->add_option("checkpoint", *checkpoint,
                  "checkpoint (.safetensors), or a run folder: its best.safetensors, else its "
                  "last.safetensors")
      ->required()
      ->transform(CLI::Validator(
          [](std::string& path) {
            // A folder without a checkpoint is a missing file, not a bad command line: the
            // vae::Error passes through CLI11 to main(), which exits 1 for it.
            path = checkpoint_in(path);
            return std::string();
          },
          "", "run folder"));
}

std::string checkpoint_in(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return path;
  for (const char* name : {vae::kBestCheckpoint, vae::kLastCheckpoint})
    if (fs::is_regular_file(fs::path(path) / name, ec)) return (fs::path(path) / name).string();
  throw vae::Error(path + ": a folder with neither " + vae::kBestCheckpoint + " nor " +
                   vae::kLastCheckpoint + " (give a checkpoint file or a run folder)");
}

void add_data_options(CLI::App* app, std::string* data, std::string* split) {
  app->add_option("--data", *data,
                  "data (default: the run's own data, whose --split is re-created; any other "
                  "source is used whole, an MNIST folder's --split files)");
  app->add_option("--split", *split, "which split of the run's data: test, train or val");
}

// More threads than this per core only slow work down; a count above the cores is still allowed
// up to it, since results depend on the count (a run is reproduced bit for bit with its own).
constexpr int kThreadsPerCore = 8;

int max_threads() { return kThreadsPerCore * std::max(1, vae::hardware_threads()); }

std::string threads_help() {
  return "threads (0 = $VAE_THREADS when set, else all " + std::to_string(vae::hardware_threads()) +
         " cores; at most " + std::to_string(max_threads()) +
         "): large batches and --iw split their rows over them, other work splits each "
         "matrix product";
}

void add_threads_option(CLI::App* app, int* threads) {
  app->add_option("--threads", *threads, threads_help());
}

namespace {

// A thread count from `what` (--threads or $VAE_THREADS): 0..max_threads(), else a usage error.
int checked_threads(long long threads, const std::string& what) {
  if (threads < 0) throw UsageError(what + ": must be >= 0, got " + std::to_string(threads));
  if (threads > max_threads())
    throw UsageError(what + ": at most " + std::to_string(max_threads()) + " on this machine (" +
                     std::to_string(kThreadsPerCore) + " per core), got " +
                     std::to_string(threads));
  return static_cast<int>(threads);
}

// $VAE_THREADS, the count used where --threads is 0 (0 or unset: all cores). It lets a machine
// or a test harness pin every command's count without editing each command line.
int threads_from_environment() {
  const char* env = std::getenv("VAE_THREADS");
  if (env == nullptr || *env == '\0') return 0;
  const std::string text(env);
  if (text.size() > 6 || text.find_first_not_of("0123456789") != std::string::npos)
    throw UsageError("VAE_THREADS: expected a whole number of threads, got '" +
                     text.substr(0, 20) + (text.size() > 20 ? "...'" : "'"));
  return checked_threads(std::stoll(text), "VAE_THREADS");
}

}  // namespace

void apply_threads(int threads) {
  threads = checked_threads(threads, "--threads");
  vae::set_num_threads(threads > 0 ? threads : threads_from_environment());
}

void add_seed_option(CLI::App* app, uint64_t* seed, const std::string& help) {
  app->add_option("--seed", *seed, help)
      ->check(CLI::Validator(
          [](std::string& text) {
            return text.find('-') == std::string::npos
                       ? std::string()
                       : "expected an integer >= 0, got '" + text + "'";
          },
          "UINT", "non-negative"));
}

void add_label_option(CLI::App* app, int* label, const std::string& when_absent) {
  *label = -1;
  app->add_option("--label", *label,
                  "conditional models: the class to decode with (default: " + when_absent + ")");
}

void apply_label(vae::Vae<float>& model, int label, int fallback) {
  const int Y = model.config().num_classes;
  if (label < -1) throw UsageError("--label: must be >= 0, got " + std::to_string(label));
  if (label >= 0 && Y == 0)
    throw UsageError("--label: this model is not conditional (train with --conditional)");
  if (Y == 0) return;
  if (label >= Y)
    throw UsageError("--label: must be in 0.." + std::to_string(Y - 1) + " for this model, got " +
                     std::to_string(label));
  model.set_default_label(label >= 0 ? label : std::clamp(fallback, 0, Y - 1));
}

namespace {

// Refuses to re-create a run's splits from data that differ from what it was trained on: its
// "test" rows would silently be other rows (checkpoints from before fingerprints pass unchecked).
void check_same_data(const vae::DataFingerprint& kept, const vae::DataFingerprint& now,
                     const std::string& path) {
  if (!kept.known() || kept == now) return;
  throw vae::Error(path + ": the data changed since the run was trained (now " + now.describe() +
                   "; the checkpoint has " + kept.describe() +
                   "), so the run's splits cannot be re-created; restore the file, or train again");
}

// The rows before scaling: the run's own split, re-created, or another source whole.
vae::Dataset read_rows_for(const vae::Checkpoint& ckpt, const std::string& data_spec,
                           const std::string& split) {
  const vae::DataOptions& run_data = ckpt.train.data;
  if (is_run_data(ckpt, data_spec)) {
    vae::SourceFingerprints prints;
    const vae::Scaler unscaled;
    vae::DataSplits d =
        vae::load_splits(run_data, ckpt.train.seed, ckpt.model.likelihood, &unscaled, nullptr, &prints);
    check_same_data(ckpt.data_prints.data, prints.data, data_spec);
    check_same_data(ckpt.data_prints.test_data, prints.test_data,
                    run_data.test_data.empty() ? data_spec : run_data.test_data);
    if (split == "val" && d.val.n == 0)
      throw vae::Error("--split: the run had no validation split (it was trained with --val-split 0)");
    return std::move(split == "train" ? d.train : split == "val" ? d.val : d.test);
  }
  // Other data: the whole source (or an MNIST folder's train or test files).
  vae::Dataset rows = vae::read_source(data_spec, run_data, split);
  vae::renumber_classes(rows, ckpt.class_names, data_spec);
  if (ckpt.data_prints.data.known() && !vae::is_mnist_source(data_spec) &&
      vae::fingerprint(rows) == ckpt.data_prints.data)
    std::fprintf(stderr, "vae: warning: %s holds the same rows as the run's data (%s) but is a "
                 "different file: it is used whole, training rows included (leave --data out "
                 "for the run's %s split)\n", data_spec.c_str(), run_data.data.c_str(), split.c_str());
  return rows;
}

}  // namespace

vae::Dataset load_split_for(const vae::Checkpoint& ckpt, const std::string& data_spec,
                            const std::string& split, std::vector<uint32_t>* out_of_range) {
  if (split != "train" && split != "val" && split != "test")
    throw UsageError("--split: must be 'train', 'val' or 'test', got '" + split + "'");
  if (data_spec.empty())  // an imported checkpoint names no data
    throw UsageError("--data: the checkpoint was imported (from " + ckpt.imported_from +
                     ") and names no data; give the data with --data");
  vae::Dataset chosen = read_rows_for(ckpt, data_spec, split);
  check_fits(chosen, ckpt.model, data_spec);
  // Counted before the run's scaling, which may clamp (tables scaled to [0, 1]).
  if (out_of_range) *out_of_range = ckpt.scaler.out_of_range(chosen.x.data(), chosen.n, chosen.d);
  ckpt.scaler.apply(chosen);
  vae::check_range_for(chosen, ckpt.model.likelihood, data_spec);
  if (const int Y = ckpt.model.num_classes; Y > 0) {
    if (chosen.labels.size() != chosen.n)
      throw vae::Error(data_spec + ": the model is conditional and needs a label for every "
                       "example; these data have none");
    for (int32_t y : chosen.labels)
      if (y < 0 || y >= Y)
        throw vae::Error(data_spec + ": label " + std::to_string(y) + " is outside the model's "
                         "classes 0.." + std::to_string(Y - 1));
  }
  if (ckpt.train.binarize == vae::Binarize::Dynamic) return vae::binarize(chosen, vae::kTestBinarizeSeed);
  return chosen;
}

void require_pictures(const vae::Checkpoint& ckpt, const std::string& checkpoint) {
  if (ckpt.model.channels <= 0)
    throw UsageError(checkpoint + ": the model was trained on non-image data, so there is no "
                     "picture to draw (vae encode and vae decode --out F.npy write arrays)");
}

void check_picture_count(size_t n, const std::string& what) {
  if (n > kMaxGridImages)
    throw UsageError(what + ": a picture of " + std::to_string(n) + " images is too large (at most " +
                     std::to_string(kMaxGridImages) + " in one PNG); decode to .npy for an array of "
                     "any size (vae decode CKPT Z.npy --out X.npy)");
}

std::string out_of_range_warning(const std::vector<uint32_t>& outside) {
  const size_t rows = static_cast<size_t>(
      std::count_if(outside.begin(), outside.end(), [](uint32_t c) { return c > 0; }));
  if (rows == 0) return "";
  return std::to_string(rows) + " of " + std::to_string(outside.size()) +
         " examples hold values outside the range of the training rows (vae score's column "
         "out_of_range counts them per example); the model has not seen such values, and the "
         "run's scaling may clamp them, so their scores do not measure how far out they lie";
}

bool is_run_data(const vae::Checkpoint& ckpt, const std::string& data_spec) {
  return vae::canonical_source(data_spec) == vae::canonical_source(ckpt.train.data.data);
}

void check_fits(const vae::Dataset& data, const vae::ModelConfig& cfg, const std::string& what) {
  if (data.d != static_cast<size_t>(cfg.input_dim))
    throw vae::Error(what + ": examples have " + std::to_string(data.d) +
                     " values but the model expects " + std::to_string(cfg.input_dim));
}

void check_output_path(const std::string& path, const std::string& option) {
  namespace fs = std::filesystem;
  if (path.empty()) throw UsageError(option + ": needs a file name");
  if (path == vae::kStandardOutput) {
    // The data take standard output; the command's messages go to stderr from here on.
    std::fflush(stdout);
    vae::set_standard_output_fd(::dup(STDOUT_FILENO));
    ::dup2(STDERR_FILENO, STDOUT_FILENO);
    return;
  }
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::is_directory(parent, ec))
    throw vae::Error(option + ": folder '" + parent.string() + "' does not exist");
  vae::check_output_target(path);
}

std::string output_format(const std::string& path, const std::vector<std::string>& formats,
                          const std::string& option) {
  std::string format;
  for (const std::string& f : formats)
    if (format.empty() && ends_with(path, f)) format = f;
  struct stat st;
  const bool stream = path == vae::kStandardOutput ||
                      (::stat(path.c_str(), &st) == 0 && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)));
  if (format.empty() && stream) format = formats.front();
  if (format.empty()) {
    std::string names;
    for (size_t i = 0; i < formats.size(); ++i)
      names += (i == 0 ? "" : i + 1 == formats.size() ? " or " : ", ") + formats[i];
    throw UsageError(option + ": must name a " + names + " file (or -, standard output), got '" +
                     path + "'");
  }
  check_output_path(path, option);
  return format;
}

namespace {
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

std::string format_duration(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  const long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

ProgressLine::ProgressLine(std::string label)
    : label_(std::move(label)), enabled_(::isatty(STDERR_FILENO)), start_s_(now_s()) {}

ProgressLine::~ProgressLine() { clear(); }

void ProgressLine::clear() {
  if (drawn_) std::fprintf(stderr, "\r\033[K");
  drawn_ = false;
}

void ProgressLine::restart(std::string label) {
  clear();
  label_ = std::move(label);
  start_s_ = now_s();
  last_s_ = -1;
}

void ProgressLine::update(size_t done, size_t total, const std::string& detail) {
  if (!enabled_) return;
  const double t = now_s();
  if (done != total && t - last_s_ < 0.1) return;
  last_s_ = t;
  const int width = 24;
  const int filled = total ? static_cast<int>(width * done / total) : width;
  std::string bar(filled, '#');
  bar.resize(width, '.');
  const double elapsed = t - start_s_;
  const double eta = done ? elapsed / done * (total - done) : -1;
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.0f/s", done / std::max(elapsed, 1e-9));
  std::fprintf(stderr, "\r\033[K%s [%s] %zu/%zu  %s  ETA %s", label_.c_str(), bar.c_str(), done,
               total, detail.empty() ? rate : detail.c_str(), format_duration(eta).c_str());
  std::fflush(stderr);
  drawn_ = true;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace vae_cli
