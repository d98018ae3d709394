#include <algorithm>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "cli.h"
#include "data/batcher.h"
#include "vae/data_pipeline.h"
#include "vae/error.h"
#include "vae/runtime.h"
#include "vae/trainer.h"

namespace vae_cli {

void add_checkpoint_argument(CLI::App* app, std::string* checkpoint) {
  app->add_option("checkpoint", *checkpoint,
                  "checkpoint (.safetensors), or a run folder: its best.safetensors, else its "
                  "last.safetensors")
      ->required()
      ->transform(CLI::Validator(
          [](std::string& path) {
            try {
              path = checkpoint_in(path);
            } catch (const vae::Error& e) {
              return std::string(e.what());  // CLI11 reports it as a usage error
            }
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
  return "threads (0 = all " + std::to_string(vae::hardware_threads()) +
         " cores; at most " + std::to_string(max_threads()) +
         "): large batches and --iw split their rows over them, other work splits each "
         "matrix product";
}

void add_threads_option(CLI::App* app, int* threads) {
  app->add_option("--threads", *threads, threads_help());
}

void apply_threads(int threads) {
  if (threads < 0) throw UsageError("--threads: must be >= 0, got " + std::to_string(threads));
  if (threads > max_threads())
    throw UsageError("--threads: at most " + std::to_string(max_threads()) + " on this machine (" +
                     std::to_string(kThreadsPerCore) + " per core), got " +
                     std::to_string(threads));
  vae::set_num_threads(threads);
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
  if (label >= 0 && Y == 0)
    throw UsageError("--label: this model is not conditional (train with --conditional)");
  if (Y == 0) return;
  if (label >= Y)
    throw UsageError("--label: must be in 0.." + std::to_string(Y - 1) + " for this model, got " +
                     std::to_string(label));
  if (label < -1) throw UsageError("--label: must be >= 0, got " + std::to_string(label));
  model.set_default_label(label >= 0 ? label : std::clamp(fallback, 0, Y - 1));
}

vae::Dataset load_split_for(const vae::Checkpoint& ckpt, const std::string& data_spec,
                            const std::string& split) {
  if (split != "train" && split != "val" && split != "test")
    throw UsageError("--split: must be 'train', 'val' or 'test', got '" + split + "'");
  vae::Dataset chosen;
  if (data_spec == ckpt.train.data.data) {
    // The run's own data: re-create its splits (same seed, same fractions) and its scaling.
    vae::DataSplits d = vae::load_splits(ckpt.train.data, ckpt.train.seed, ckpt.model.likelihood,
                                         &ckpt.scaler, nullptr);
    chosen = std::move(split == "train" ? d.train : split == "val" ? d.val : d.test);
    if (split == "val" && chosen.n == 0)
      throw vae::Error("--split: the run had no validation split (train with --val-split F)");
  } else {
    // Other data: the whole source (or an MNIST folder's train or test files), with the run's
    // scaling.
    chosen = vae::read_source(data_spec, ckpt.train.data, split);
    check_fits(chosen, ckpt.model, data_spec);
    ckpt.scaler.apply(chosen);
  }
  check_fits(chosen, ckpt.model, data_spec);
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

void check_fits(const vae::Dataset& data, const vae::ModelConfig& cfg, const std::string& what) {
  if (data.d != static_cast<size_t>(cfg.input_dim))
    throw vae::Error(what + ": examples have " + std::to_string(data.d) +
                     " values but the model expects " + std::to_string(cfg.input_dim));
}

void check_output_path(const std::string& path, const std::string& option) {
  namespace fs = std::filesystem;
  if (path.empty()) throw UsageError(option + ": needs a file name");
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::is_directory(parent, ec))
    throw vae::Error(option + ": folder '" + parent.string() + "' does not exist");
  if (fs::is_directory(path, ec)) throw vae::Error(option + ": '" + path + "' is a folder");
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
