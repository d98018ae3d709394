// vae train: train a model on a data set into a run folder. The options are the table in
// train_options.h; run_train reads as its steps: resolve the options, check the run folder, load
// the data, fit the model to them, prepare the folder, print the plan, train, and write the
// pictures and the report.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "data/batcher.h"
#include "io/fileio.h"
#include "io/png.h"
#include "io/run_lock.h"
#include "model/priors/priors.h"
#include "train/distributed.h"
#include "train_options.h"
#include "vae/error.h"
#include "vae/runtime.h"
#include "vae/trainer.h"
#include "viz/report.h"
#include "viz/viz.h"

namespace vae_cli {

namespace {

namespace fs = std::filesystem;

std::string read_text(const std::string& path) {
  const std::vector<unsigned char> bytes = vae::read_file(path);
  if (bytes.size() > (1u << 20)) throw vae::Error(path + ": a model description over 1 MiB is not plausible");
  return std::string(bytes.begin(), bytes.end());
}

// "12.3 MB": sizes in messages (decimal units, as df -H prints them).
std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"bytes", "kB", "MB", "GB", "TB", "PB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000 && u < 5) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

// Fails unless a file can be created in `dir`. Creating one is the only test that holds for
// root (whom permission bits do not stop) and for read-only file systems alike.
void check_writable(const std::string& dir) {
  std::string probe = dir + "/.vae-write-probe.XXXXXX";
  const int fd = ::mkstemp(probe.data());
  if (fd < 0)
    throw vae::Error("--out: folder " + dir + " is not writable (" + std::strerror(errno) + ")");
  ::close(fd);
  ::unlink(probe.c_str());
}

// Fails when the file system of `dir` cannot hold the run's checkpoints. At the peak a run
// holds last.safetensors, best.safetensors and the temporary of the one being rewritten: three
// checkpoints of 4 bytes per parameter and per Adam moment, plus a header. Checkpoints already
// in the folder are replaced, so their space counts as available.
void check_free_space(const std::string& dir, const vae::ModelConfig& cfg) {
  namespace fs = std::filesystem;
  const std::optional<uint64_t> free = vae::free_bytes(dir);
  if (!free) return;  // the file system does not say: a full disk then fails at the write
  const uint64_t ckpt = static_cast<uint64_t>(vae::param_count(cfg)) * 4 * 3 + (64u << 10);
  uint64_t held = 0;
  std::error_code ec;
  for (const char* name : {vae::kLastCheckpoint, vae::kBestCheckpoint}) {
    const uintmax_t size = fs::file_size(fs::path(dir) / name, ec);
    if (!ec) held += size;
  }
  const uint64_t needed = std::max(ckpt, 3 * ckpt > held ? 3 * ckpt - held : 0);
  if (needed > *free)
    throw vae::Error("--out: not enough free space in " + dir + ": the run needs " +
                     human_bytes(needed) + " (" + std::to_string(needed) +
                     " bytes: last, best and the checkpoint being written, " + human_bytes(ckpt) +
                     " each) but " + human_bytes(*free) + " (" + std::to_string(*free) +
                     " bytes) are available");
}

// A learning rate as %g prints it ("0.0005").
std::string lr_text(double lr) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", lr);
  return buf;
}

std::string default_out_dir() {
  char buf[64];
  const std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "runs/%Y%m%d-%H%M%S", std::localtime(&t));
  return buf;
}

// What the steps of run_train work from once the command line is resolved.
struct TrainRun {
  TrainSetup setup;
  std::optional<vae::Checkpoint> resumed;  ///< the checkpoint a resumed run continues
  std::vector<std::string> flag_fields;    ///< the fields the command line set ("latent")

  /// Whether the command line set `field`: its flag then overrides a --config file's value.
  bool flag_sets(const std::string& field) const {
    return std::find(flag_fields.begin(), flag_fields.end(), field) != flag_fields.end();
  }

  const vae::Checkpoint* resume_from() const { return resumed ? &*resumed : nullptr; }
  fs::path last_checkpoint() const { return fs::path(setup.out) / vae::kLastCheckpoint; }
};

// ---- 1. The options -------------------------------------------------------------------------

// A --config file's optional "train" object: training options by their field names, the keys
// of a checkpoint's train_options ({"batch_size": 100, "kl_warmup": "linear:100"}), each read
// as the text its flag takes. Takes the object out of `text`, which keeps the model description.
// Throws vae::Error "<origin>: train.<key>: ..." for a key that is not a training option or a
// value that is neither a number nor a string.
GivenFlags config_train_flags(std::string& text, const std::string& origin) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("train")) return {};  // parse_model_config says what is wrong
  const nlohmann::json train = j["train"];
  j.erase("train");
  text = j.dump();
  if (!train.is_object())
    throw vae::Error(origin + ": train: must be an object of training options by name");
  const nlohmann::json keys = nlohmann::json::parse(vae::TrainOptions().to_json());
  GivenFlags out;
  for (const TrainFlag& row : train_flags()) {
    if (!train.contains(row.field)) continue;
    const nlohmann::json& v = train[row.field];
    if (!v.is_number() && !v.is_string())
      throw vae::Error(origin + ": train." + row.field + ": must be a number or a string");
    out.items.push_back({&row, v.is_string() ? v.get<std::string>() : v.dump()});
  }
  for (const auto& [key, value] : train.items())
    if (!keys.contains(key) || !std::any_of(out.items.begin(), out.items.end(),
                                            [&](const auto& i) { return i.first->field == key; }))
      throw vae::Error(origin + ": train." + key + ": not a training option (the keys are " +
                       "those of a checkpoint's train_options, such as batch_size)");
  return out;
}

// The training options of a --config file over the defaults, checked as the file's: an error
// names the file, "model.json: train.batch_size: must be in 1..65536, got 0".
void apply_config_train(TrainSetup& s, const GivenFlags& file_flags, const std::string& origin) {
  try {
    apply_flags(s, file_flags);
    s.train.validate();
  } catch (const vae::Error& e) {
    throw vae::Error(origin + ": train." + e.what());
  }
}

// What the given flags apply over: a resumed run's checkpoint, the model and training options
// of a --config file over the defaults (or over the model of the --init-from checkpoint), or the
// defaults.
TrainRun base_run(const GivenFlags& given) {
  TrainRun run;
  const std::string resume = given.text("--resume"), config = given.text("--config"),
                    init_from = given.text("--init-from");
  if (!resume.empty()) {
    check_resumable(given);
    run.resumed = vae::load_checkpoint(resume);
    if (!run.resumed->imported_from.empty())
      throw vae::Error("--resume: " + resume + " was imported (from " +
                       run.resumed->imported_from + ") and holds no training run; start one "
                       "from its weights with --init-from " + resume);
    if (run.resumed->adam_m.empty())
      throw vae::Error("--resume: " + resume + " holds weights only (no optimiser state); resume "
                       "from the run's last.safetensors");
    run.setup.train = run.resumed->train;
    run.setup.model = run.resumed->model;
    return run;
  }
  // --init-from: the checkpoint's model is what the --config file and the flags apply over.
  if (!init_from.empty()) run.setup.model = vae::load_checkpoint(init_from).model;
  if (!config.empty()) {
    for (const char* flag : {"--hidden", "--arch"})
      if (given.has(flag))
        throw UsageError(std::string(flag) + ": cannot be combined with --config (the file "
                         "describes the layers)");
    // The file over the defaults, then the flags given on the command line over the file. The
    // file's sigma word is read against --likelihood, which may be what makes it valid.
    if (given.has("--likelihood"))
      vae::set_likelihood(run.setup.model, given.text("--likelihood"), std::nullopt);
    std::string text = read_text(config);
    apply_config_train(run.setup, config_train_flags(text, config), config);
    run.setup.model = vae::parse_model_config(text, config, run.setup.model);
  }
  return run;
}

// A model that ModelConfig::validate refuses, with the blame where it belongs. A field the
// command line set is named by its flag (main.cpp spells it; a usage error). Otherwise, with a
// --config file, the file is at fault: "model.json: latent: must be in 1..16384, got 0", exit
// code 1. Otherwise the flags' model is: a usage error before the data are read (`usage`), the
// error as it stands after (the data's geometry did not fit).
[[noreturn]] void throw_model_error(const vae::Error& e, const TrainRun& run, bool usage) {
  const auto* field = dynamic_cast<const vae::FieldError*>(&e);
  if (field && (run.setup.config.empty() || run.flag_sets(field->field()))) throw *field;
  if (!run.setup.config.empty()) throw vae::Error(run.setup.config + ": " + e.what());
  if (usage) throw UsageError(e.what());
  throw vae::Error(e.what());
}

// A new run's model, checked before any data are read when it is an MLP (a stack of layers is
// checked against the data's geometry once they are read).
void check_model_early(const TrainRun& run) {
  try {
    run.setup.model.validate();
  } catch (const vae::Error& e) {
    throw_model_error(e, run, /*usage=*/true);
  }
}

TrainRun resolve_options(const GivenFlags& given) {
  TrainRun run = base_run(given);
  for (const auto& item : given.items) run.flag_fields.push_back(item.first->field);
  TrainSetup& s = run.setup;
  apply_flags(s, given);
  apply_threads(s.threads);
  // Paths as the checkpoint keeps them: absolute, so later commands find the data from any folder.
  s.train.data.data = vae::canonical_source(s.train.data.data);
  s.train.data.test_data = vae::canonical_source(s.train.data.test_data);
  if (!s.train.init_from.empty()) s.train.init_from = fs::absolute(s.train.init_from).string();
  if (!run.resumed && s.config.empty() && s.model.arch == vae::Arch::Conv && given.has("--hidden"))
    throw UsageError("--hidden: sets the widths of --arch mlp; --arch conv is a fixed preset "
                     "(use --config for other layers)");
  s.train.validate();
  if (!run.resumed && s.train.epochs == 0)
    throw UsageError("--epochs: a new run needs at least 1 epoch (0 would leave an empty run "
                     "folder)");
  if (!run.resumed && s.model.arch == vae::Arch::Mlp) check_model_early(run);
  if (s.out.empty() && run.resumed) s.out = fs::path(s.resume).parent_path().string();
  if (s.out.empty()) s.out = run.resumed ? "." : default_out_dir();
  return run;
}

// ---- 2. The run folder ----------------------------------------------------------------------

// A new run does not replace another by accident.
void check_run_folder(const TrainRun& run) {
  const fs::path last = run.last_checkpoint();
  std::error_code ec;
  if (!run.resumed && fs::exists(last, ec) && !run.setup.overwrite)
    throw vae::Error("--out: " + run.setup.out + " already holds a run (" + last.string() +
                     "); continue it with --resume " + last.string() +
                     ", or pass --overwrite to start over");
}

// Before any training: the folder must exist, take files, and have room for the checkpoints.
// A folder made here for a run that cannot start is removed again.
// --overwrite: the files of the run the folder held, so that none of its pictures is left beside
// the new run's (other files in the folder are not the run's and stay).
void remove_previous_run(const std::string& out) {
  std::error_code ec;
  std::vector<fs::path> previous;
  for (const auto& entry : fs::directory_iterator(out, ec))
    if (vae::is_run_file(entry.path().filename().string())) previous.push_back(entry.path());
  if (ec) throw vae::Error("--out: cannot list " + out + " (" + ec.message() + ")");
  for (const fs::path& path : previous) {
    fs::remove(path, ec);
    if (ec) throw vae::Error("--out: cannot remove " + path.string() + " (" + ec.message() + ")");
  }
}

// The run folder's lock (io/run_lock.h), taken as soon as the folder exists: before anything in
// it is read or written when it exists already, else once prepare_run_folder has made it.
vae::RunLock lock_existing_folder(const std::string& out) {
  std::error_code ec;
  if (!fs::is_directory(out, ec)) return vae::RunLock();
  check_writable(out);
  return vae::RunLock(out);
}

void prepare_run_folder(const TrainRun& run, vae::RunLock& lock) {
  const std::string& out = run.setup.out;
  const vae::ModelConfig& cfg = run.setup.model;
  std::error_code ec;
  const bool made = !fs::exists(out, ec);
  fs::create_directories(out, ec);
  if (ec) throw vae::Error("--out: cannot create folder " + out + " (" + ec.message() + ")");
  try {
    check_writable(out);
    check_free_space(out, cfg);
  } catch (const vae::Error&) {
    if (made) fs::remove(out, ec);
    throw;
  }
  if (!lock.held()) lock = vae::RunLock(out);
  if (!run.resumed && run.setup.overwrite) remove_previous_run(out);
  if (!run.resumed && cfg.arch == vae::Arch::Custom)  // the layers, for the report's command line
    vae::write_file_atomic(out + "/" + vae::kModelDescriptionFile, cfg.to_description());
}

// ---- 3. The data and the model --------------------------------------------------------------

// Read before anything is created, so bad data leave no folder behind.
vae::DataSplits load_data(const TrainRun& run, vae::Scaler& scaler,
                          vae::SourceFingerprints& prints) {
  const vae::TrainOptions& opts = run.setup.train;
  const vae::Scaler* fitted = run.resumed ? &run.resumed->scaler : nullptr;
  vae::DataSplits data =
      vae::load_splits(opts.data, opts.seed, run.setup.model.likelihood, fitted, &scaler, &prints);
  vae::check_splits_for_training(data, opts.data);
  return data;
}

// The classes of a conditional model: 0 up to the largest training label.
int class_count(const vae::DataSplits& data, const std::string& spec) {
  if (data.train.labels.empty())
    throw vae::Error("--conditional: " + data.source + " has no labels" +
                     (spec.size() > 4 && ends_with(spec, ".csv")
                          ? " (name the label column with --label-column)"
                          : ""));
  int32_t top = 0;
  for (int32_t y : data.train.labels) top = std::max(top, y);
  return top + 1;
}

// What depends on the data: the geometry and, for a new run, the conv preset's sizes, the class
// count, and whether the layer stack fits. A resumed run's model must take the data as they are.
void fit_model_to_data(TrainRun& run, const vae::DataSplits& data) {
  vae::ModelConfig& cfg = run.setup.model;
  const vae::DataOptions& opts = run.setup.train.data;
  if (run.resumed) {
    if (data.train.d != static_cast<size_t>(cfg.input_dim))
      throw vae::Error(opts.data + ": examples have " + std::to_string(data.train.d) +
                       " values but the checkpoint's model expects " +
                       std::to_string(cfg.input_dim));
    return;
  }
  cfg.input_dim = static_cast<int>(data.train.d);
  cfg.height = data.train.height;
  cfg.width = data.train.width;
  cfg.channels = data.train.channels;
  if (cfg.arch == vae::Arch::Conv) vae::set_conv_preset(cfg);
  if (cfg.num_classes > 0) cfg.num_classes = class_count(data, opts.data);
  try {
    cfg.validate();
  } catch (const vae::Error& e) {
    throw_model_error(e, run, /*usage=*/false);
  }
}

// Every split holds values the likelihood can take, and labels the model knows.
void check_data_range(const vae::ModelConfig& cfg, const vae::DataOptions& opts,
                      const vae::DataSplits& data) {
  vae::check_range_for(data.train, cfg.likelihood, opts.data);
  vae::check_range_for(data.val, cfg.likelihood, opts.data + " (validation rows)");
  vae::check_range_for(data.test, cfg.likelihood,
                       opts.test_data.empty() ? opts.data + " (test rows)" : opts.test_data);
  if (cfg.num_classes <= 0) return;
  // A conditional model's held-out rows must fall in the classes its training rows define.
  vae::check_labels_for(data.val, cfg.num_classes, opts.data + " (validation rows)");
  vae::check_labels_for(data.test, cfg.num_classes,
                        opts.test_data.empty() ? opts.data + " (test rows)" : opts.test_data);
}

// ---- 4. Training ----------------------------------------------------------------------------

void print_plan(const TrainRun& run, const vae::DataSplits& data, const vae::Scaler& scaler) {
  const vae::ModelConfig& cfg = run.setup.model;
  const vae::TrainOptions& opts = run.setup.train;
  const std::string likelihood =
      vae::likelihood_name(cfg) +
      (cfg.num_classes > 0 ? ", conditional on " + std::to_string(cfg.num_classes) + " classes" : "") +
      (opts.objective == vae::Objective::Iwae ? ", IWAE k=" + std::to_string(opts.k) : "");
  std::printf("model %s (%s, %s likelihood), %zu parameters; data %s: %zu train / %zu val / %zu "
              "test, scaling %s; %d epochs, batch %d, lr %g, seed %llu, binarize %s, %d thread%s\n",
              cfg.describe().c_str(), vae::activation_name(cfg.activation), likelihood.c_str(),
              vae::param_count(cfg), data.source.c_str(), data.train.n, data.val.n, data.test.n,
              vae::scaler_kind_name(scaler.kind), opts.epochs, opts.batch_size, opts.lr,
              static_cast<unsigned long long>(opts.seed), vae::binarize_name(opts.binarize),
              vae::num_threads(), vae::num_threads() == 1 ? "" : "s");
  if (const vae::Checkpoint* resumed = run.resume_from()) {
    const vae::TrainState& state = resumed->state;
    std::printf("resuming from %s at epoch %lld of %d%s\n", run.setup.resume.c_str(),
                static_cast<long long>(state.epoch), opts.epochs,
                state.recoveries > 0
                    ? (", lr " + lr_text(state.lr_or(opts.lr)) + " after " +
                       std::to_string(state.recoveries) + " recover" +
                       (state.recoveries == 1 ? "y" : "ies") + " from non-finite steps")
                          .c_str()
                    : "");
  }
  std::fflush(stdout);
}

void print_recovery(const vae::TrainRecovery& r) {
  const std::string restored = r.restored_epoch > 0
                                   ? "the state after epoch " + std::to_string(r.restored_epoch)
                                   : std::string("the starting state");
  std::printf("epoch %lld, step %lld: %s %s not finite; restored %s and halved the lr "
              "(%s -> %s), recovery %lld of %d\n",
              static_cast<long long>(r.epoch), static_cast<long long>(r.step), r.what.c_str(),
              r.what.find(" and ") != std::string::npos ? "are" : "is", restored.c_str(),
              lr_text(r.old_lr).c_str(), lr_text(r.new_lr).c_str(),
              static_cast<long long>(r.recovery), r.max_recoveries);
  std::fflush(stdout);
}

// Progress on the terminal: a bar within each epoch (with the whole run's time left), a line
// after it.
vae::TrainCallbacks progress_callbacks(const vae::TrainOptions& opts, ProgressLine& bar) {
  vae::TrainCallbacks cb;
  cb.on_batch = [&bar](const vae::TrainProgress& p) {
    if (p.batch == 1) bar.restart("epoch " + std::to_string(p.epoch) + "/" + std::to_string(p.epochs));
    char detail[96];
    std::snprintf(detail, sizeof detail, "loss %.2f  %.0f ex/s  run ETA %s", p.loss,
                  p.examples_per_s, format_duration(p.eta_s).c_str());
    bar.update(p.batch, p.batches, detail);
  };
  cb.on_epoch = [&opts, &bar](const vae::EpochMetrics& m) {
    bar.clear();
    std::printf("epoch %lld/%d  train %.2f  %s %.2f (recon %.2f + kl %.2f)  %.0f ex/s  %.1f s\n",
                static_cast<long long>(m.epoch), opts.epochs, m.train_loss, m.on_val ? "val" : "test",
                m.test_loss, m.test_recon, m.test_kl, m.examples_per_s, m.seconds);
    std::fflush(stdout);
  };
  cb.on_recover = [&bar](const vae::TrainRecovery& r) {
    bar.clear();
    print_recovery(r);
  };
  cb.on_final = [&opts](const vae::FinalMetrics& f) {
    if (f.stopped_early)
      std::printf("stopped early after epoch %lld: no better validation loss for %d epochs\n",
                  static_cast<long long>(f.epochs_run), opts.patience);
    if (f.has_val)
      std::printf("best model (epoch %lld, val %.2f) on the test set: %.2f (recon %.2f + kl %.2f)\n",
                  static_cast<long long>(f.best_epoch), f.val_loss, f.test_loss, f.test_recon,
                  f.test_kl);
  };
  return cb;
}

// ---- 5. Pictures and the report -------------------------------------------------------------

// Samples and reconstructions of an image model, from the run's last checkpoint.
void write_pictures(const std::string& out, const vae::Checkpoint& ckpt,
                    const vae::DataSplits& data) {
  vae::Vae<float> model = vae::model_from_checkpoint(ckpt, 256);
  vae::write_png(out + "/samples.png", vae::sample_grid(model, 64, ckpt.train.seed));
  const vae::Dataset& source = data.test.n > 0 ? data.test : data.train;
  const vae::Dataset shown = ckpt.train.binarize == vae::Binarize::Dynamic
                                 ? vae::binarize(source, vae::kTestBinarizeSeed)
                                 : source;
  vae::write_png(out + "/reconstructions.png", vae::reconstruction_grid(model, shown, 32));
}

int write_pictures_and_report(const TrainRun& run, const vae::DataSplits& data) {
  const std::string& out = run.setup.out;
  std::error_code ec;
  if (!fs::exists(run.last_checkpoint(), ec)) {
    std::printf("no epochs to run (--epochs %d)\n", run.setup.train.epochs);
    return 0;
  }
  const vae::Checkpoint final_ckpt = vae::load_checkpoint(run.last_checkpoint().string());
  const bool images = run.setup.model.channels > 0;
  if (images) write_pictures(out, final_ckpt, data);
  std::printf("done: best %s loss %.2f at epoch %lld; wrote %s/{last,best}.safetensors, "
              "%s/{metrics.jsonl,final.json}%s\n",
              data.val.n > 0 ? "validation" : "test", final_ckpt.state.best_test_loss,
              static_cast<long long>(final_ckpt.state.best_epoch), out.c_str(), out.c_str(),
              images ? (", " + out + "/{samples,reconstructions}.png").c_str() : "");
  std::fflush(stdout);
  vae::ReportOptions report;
  report.command = reproduce_command(final_ckpt, out);
  std::printf("wrote %s\n", vae::write_report(out, data.test, report).c_str());
  return 0;
}

// ---- Stopping on SIGINT or SIGTERM ----------------------------------------------------------

// The signal that asked the run to stop, 0 while none has.
volatile sig_atomic_t stop_signal = 0;

// First signal: ask the trainer to stop at the end of its step (vae::request_stop). Second: quit
// at once; every file of the run is still whole (they are replaced atomically).
extern "C" void on_stop_signal(int sig) {
  if (stop_signal != 0) ::_exit(128 + sig);
  stop_signal = sig;
  vae::request_stop();
  static const char note[] =
      "\nvae: stopping at the end of this step (again to quit at once)\n";
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, note, sizeof note - 1);
}

// SIGINT and SIGTERM go to on_stop_signal while it lives; the defaults come back after.
class StopSignals {
 public:
  StopSignals() {
    struct sigaction sa = {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopSignals() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction old_int_ = {}, old_term_ = {};
};

// After a stop: what the run folder holds and the command that goes on; exit 128 + signal.
int report_stop(const TrainRun& run) {
  const int sig = stop_signal;
  std::error_code ec;
  const fs::path last = run.last_checkpoint();
  std::string kept = "no epoch was completed, so nothing was saved; run the same command again";
  if (fs::exists(last, ec)) {
    const vae::Checkpoint ckpt = vae::load_checkpoint(last.string());
    kept = std::string(vae::kLastCheckpoint) + " holds epoch " +
           std::to_string(ckpt.state.epoch) + " of " + std::to_string(ckpt.train.epochs) +
           " (an unfinished epoch is redone); resume with: vae train --resume " + last.string() +
           (run.setup.threads > 0 ? " --threads " + std::to_string(run.setup.threads) : "");
  }
  std::fflush(stdout);
  std::fprintf(stderr, "vae: stopped by %s; %s\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
               kept.c_str());
  return 128 + sig;
}

// What training starts from once the options, the folder and the data are checked.
struct Prepared {
  TrainRun run;
  vae::RunLock lock;
  vae::Scaler scaler;
  vae::SourceFingerprints prints;
  vae::DataSplits data;
};

// Steps 1 to 3 but the folder's preparation. Under mpirun every rank resolves the options and
// reads the data; rank 0 alone touches the run folder (train/distributed.h), the others' --out
// is never read or written.
void prepare(const GivenFlags& given, Prepared& p) {
  const bool root = vae::is_root_rank();
  p.run = resolve_options(given);
  if (root) p.lock = lock_existing_folder(p.run.setup.out);
  if (root) check_run_folder(p.run);
  p.data = load_data(p.run, p.scaler, p.prints);
  fit_model_to_data(p.run, p.data);
  vae::check_prior_training(p.run.setup.model, p.run.setup.train.free_bits);
  check_data_range(p.run.setup.model, p.run.setup.train.data, p.data);
  if (vae::distributed()) vae::rank_shards(p.run.setup.train.batch_size, p.run.setup.train.free_bits > 0);
}

int run_train(const GivenFlags& given) {
  Prepared p;
  // Distributed, every rank must be ready before any trains: a rank that cannot read the data
  // stops them all here, with its message.
  run_agreed([&] { prepare(given, p); });
  const TrainRun& run = p.run;
  const bool root = vae::is_root_rank();
  run_agreed([&] {
    if (root) prepare_run_folder(p.run, p.lock);
  });
  if (root) print_plan(run, p.data, p.scaler);
  const double collectives_before = vae::collective_seconds();
  {
    ProgressLine bar("");
    const StopSignals stop_signals;
    vae::train(run.setup.out, run.setup.model, run.setup.train, p.data, p.scaler,
               run.resume_from(), root ? progress_callbacks(run.setup.train, bar)
                                       : vae::TrainCallbacks{},
               p.prints);
  }
  if (vae::distributed() && std::getenv("VAE_MPI_PROFILE"))  // scripts/bench-mpi.sh reads it
    std::fprintf(stderr, "vae: rank %d: %.3f s in collectives\n", vae::world_rank(),
                 vae::collective_seconds() - collectives_before);
  // Under mpirun a signal to another rank stops this one too (train/distributed.h); mpirun
  // forwards SIGINT and SIGTERM to every rank, so SIGTERM is the likely one.
  if (vae::distributed() && stop_signal == 0 && vae::stop_requested()) stop_signal = SIGTERM;
  if (!root) return stop_signal != 0 ? 128 + stop_signal : 0;
  if (stop_signal != 0) return report_stop(run);
  return write_pictures_and_report(run, p.data);
}

}  // namespace

Command add_train(CLI::App& root) {
  CLI::App* app = root.add_subcommand(
      "train", "Train a VAE; writes checkpoints, metrics and pictures to a run folder");
  auto flags = std::make_shared<TrainFlagParser>(app);
  return {app, [flags] { return run_train(flags->given()); }};
}

}  // namespace vae_cli
