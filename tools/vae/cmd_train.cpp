// vae train: train a model on a data set into a run folder.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>

#include "cli.h"
#include "vae/batcher.h"
#include "vae/error.h"
#include "vae/fileio.h"
#include "vae/pictures.h"
#include "vae/png.h"
#include "vae/report.h"
#include "vae/runtime.h"
#include "vae/trainer.h"

namespace vae_cli {

namespace {

struct TrainArgs {
  std::string data = "fashion-mnist";
  std::string out;
  std::string hidden = "400";
  std::string arch = "mlp";
  std::string config;
  std::string objective = "elbo";
  int k = 1;
  bool conditional = false;
  double clip_grad = 0.0;
  int max_recoveries = 5;
  int latent = 20;
  std::string activation = "relu";
  int epochs = 10;
  int batch_size = 128;
  double lr = 1e-3;
  uint64_t seed = 1;
  std::string binarize = "none";
  int threads = 0;
  std::string resume;
  bool overwrite = false;
  std::string likelihood = "bernoulli";
  std::string sigma = "1";
  std::string test_data;
  double test_split = -1;
  double val_split = 0;
  std::string label_column;
  std::string scale = "auto";
  int patience = 0;
  double beta = 1.0;
  std::string kl_warmup = "none";
  double free_bits = 0.0;
};

std::string read_text(const std::string& path) {
  const std::vector<unsigned char> bytes = vae::read_file(path);
  if (bytes.size() > (1u << 20)) throw vae::Error(path + ": a model description over 1 MiB is not plausible");
  return std::string(bytes.begin(), bytes.end());
}

// "400", "512,256", or "none" / "" for a linear model.
std::vector<int> parse_hidden(const std::string& text) {
  std::vector<int> widths;
  if (text.empty() || text == "none") return widths;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = std::min(text.find(',', pos), text.size());
    const std::string item = text.substr(pos, comma - pos);
    size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size())
      throw UsageError("--hidden: expected widths separated by commas (e.g. 512,256) or 'none', "
                       "got '" + text + "'");
    widths.push_back(v);
    pos = comma + 1;
  }
  return widths;
}

// --sigma: a positive number, or "learned".
void parse_sigma(const std::string& text, vae::ModelConfig& cfg) {
  if (text == "learned") {
    cfg.learn_sigma = true;
    return;
  }
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty())
    throw UsageError("--sigma: expected a positive number or 'learned', got '" + text + "'");
  cfg.sigma = v;
  cfg.learn_sigma = false;
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

int run_train(const TrainArgs& a, CLI::App* app) {
  apply_threads(a.threads);
  vae::Checkpoint resumed;
  vae::TrainOptions opts;
  vae::ModelConfig cfg;
  std::string out = a.out;

  if (!a.resume.empty()) {
    for (const char* name : {"--hidden", "--latent", "--activation", "--batch-size", "--lr",
                             "--seed", "--binarize", "--overwrite", "--likelihood", "--sigma",
                             "--test-data", "--test-split", "--val-split", "--label-column",
                             "--scale", "--patience", "--beta", "--kl-warmup", "--free-bits",
                             "--arch", "--config", "--objective", "--k", "--conditional",
                             "--clip-grad"})
      if (app->count(name))
        throw UsageError(std::string(name) +
                         ": cannot be combined with --resume (a resumed run keeps its checkpoint's "
                         "model and options; only --epochs, --data, --out, --threads and "
                         "--max-recoveries apply)");
    resumed = vae::load_checkpoint(a.resume);
    opts = resumed.train;
    cfg = resumed.model;
    if (app->count("--epochs")) opts.epochs = a.epochs;
    if (app->count("--max-recoveries")) opts.max_recoveries = a.max_recoveries;
    if (app->count("--data")) opts.data.data = a.data;
    if (out.empty()) out = std::filesystem::path(a.resume).parent_path().string();
    if (out.empty()) out = ".";
    try {
      opts.validate();
    } catch (const vae::Error& e) {
      throw UsageError(e.what());
    }
  } else {
    opts.data.data = a.data;
    opts.data.test_data = a.test_data;
    opts.data.test_split = a.test_split;
    opts.data.val_split = a.val_split;
    opts.data.label_column = a.label_column;
    opts.data.scale = a.scale;
    opts.patience = a.patience;
    opts.beta = a.beta;
    opts.kl_warmup = a.kl_warmup;
    opts.free_bits = a.free_bits;
    opts.epochs = a.epochs;
    opts.batch_size = a.batch_size;
    opts.lr = a.lr;
    opts.seed = a.seed;
    opts.binarize = a.binarize;
    opts.objective = a.objective;
    opts.k = a.k;
    opts.clip_grad = a.clip_grad;
    opts.max_recoveries = a.max_recoveries;
    if (!a.config.empty()) {
      for (const char* name : {"--hidden", "--arch"})
        if (app->count(name))
          throw UsageError(std::string(name) + ": cannot be combined with --config (the file "
                           "describes the layers)");
      // The file over the defaults, then the flags given on the command line over the file.
      cfg = vae::parse_model_config(read_text(a.config), a.config, cfg);
      if (app->count("--latent")) cfg.latent = a.latent;
      if (app->count("--likelihood")) cfg.likelihood = a.likelihood;
      if (app->count("--sigma")) parse_sigma(a.sigma, cfg);
      try {
        if (app->count("--activation")) cfg.activation = vae::parse_activation(a.activation);
      } catch (const vae::Error& e) {
        throw UsageError(std::string("--activation: ") + e.what());
      }
    } else {
      if (a.arch != "mlp" && a.arch != "conv")
        throw UsageError("--arch: must be 'mlp' or 'conv', got '" + a.arch + "'");
      if (a.arch == "conv" && app->count("--hidden"))
        throw UsageError("--hidden: sets the widths of --arch mlp; --arch conv is a fixed preset "
                         "(use --config for other layers)");
      cfg.arch = vae::parse_arch(a.arch);
      cfg.hidden = parse_hidden(a.hidden);
      cfg.latent = a.latent;
      cfg.likelihood = a.likelihood;
      parse_sigma(a.sigma, cfg);
      try {
        cfg.activation = vae::parse_activation(a.activation);
      } catch (const vae::Error& e) {
        throw UsageError(std::string("--activation: ") + e.what());
      }
    }
    if (a.conditional) cfg.num_classes = 1;  // the data's class count is set once they are read
    try {
      opts.validate();
      if (cfg.arch == vae::Arch::Mlp) cfg.validate();  // layer stacks are checked against the data later
    } catch (const vae::Error& e) {
      throw UsageError(e.what());
    }
    if (out.empty()) out = default_out_dir();
  }

  namespace fs = std::filesystem;
  const fs::path last = fs::path(out) / vae::kLastCheckpoint;
  std::error_code ec;
  if (a.resume.empty() && fs::exists(last, ec) && !a.overwrite)
    throw vae::Error("--out: " + out + " already holds a run (" + last.string() +
                     "); continue it with --resume " + last.string() +
                     ", or pass --overwrite to start over");

  // Read the data before creating anything, so bad data leaves no folder behind.
  vae::Scaler scaler;
  const vae::DataSplits data = vae::load_splits(opts.data, opts.seed, cfg.likelihood,
                                                a.resume.empty() ? nullptr : &resumed.scaler, &scaler);
  cfg.input_dim = static_cast<int>(data.train.d);
  cfg.height = data.train.height;
  cfg.width = data.train.width;
  cfg.channels = data.train.channels;
  if (a.resume.empty()) {
    // What depends on the data: the conv preset's sizes, the class count, and whether the layer
    // stack fits the data's geometry.
    const std::string origin = a.config.empty() ? "" : a.config + ": ";
    if (cfg.arch == vae::Arch::Conv) vae::set_conv_preset(cfg);
    if (a.conditional) {
      if (data.train.labels.empty())
        throw vae::Error("--conditional: " + data.source + " has no labels" +
                         (opts.data.data.size() > 4 &&
                                  opts.data.data.compare(opts.data.data.size() - 4, 4, ".csv") == 0
                              ? " (name the label column with --label-column)"
                              : ""));
      int32_t top = 0;
      for (int32_t y : data.train.labels) top = std::max(top, y);
      cfg.num_classes = top + 1;
    }
    try {
      cfg.validate();
    } catch (const vae::Error& e) {
      throw vae::Error(origin + e.what());
    }
  }
  if (!a.resume.empty()) {
    if (data.train.d != static_cast<size_t>(resumed.model.input_dim))
      throw vae::Error(opts.data.data + ": examples have " + std::to_string(data.train.d) +
                       " values but the checkpoint's model expects " +
                       std::to_string(resumed.model.input_dim));
    cfg = resumed.model;
  }
  vae::check_range_for(data.train, cfg.likelihood, opts.data.data);
  vae::check_range_for(data.val, cfg.likelihood, opts.data.data + " (validation rows)");
  vae::check_range_for(data.test, cfg.likelihood,
                       opts.data.test_data.empty() ? opts.data.data + " (test rows)" : opts.data.test_data);

  // Before any training: the folder must exist, take files, and have room for the checkpoints.
  // A folder made here for a run that cannot start is removed again.
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
  if (a.resume.empty() && cfg.arch == vae::Arch::Custom)  // the layers, for the report's command line
    vae::write_file_atomic(out + "/" + vae::kModelDescriptionFile, cfg.to_description());

  const std::string likelihood =
      cfg.likelihood + (cfg.learn_sigma ? " (learned sigma)" : "") +
      (cfg.num_classes > 0 ? ", conditional on " + std::to_string(cfg.num_classes) + " classes" : "") +
      (opts.objective == "iwae" ? ", IWAE k=" + std::to_string(opts.k) : "");
  std::printf("model %s (%s, %s likelihood), %zu parameters; data %s: %zu train / %zu val / %zu "
              "test, scaling %s; %d epochs, batch %d, lr %g, seed %llu, binarize %s, %d thread%s\n",
              cfg.describe().c_str(), vae::activation_name(cfg.activation), likelihood.c_str(),
              vae::param_count(cfg), data.source.c_str(), data.train.n, data.val.n, data.test.n,
              scaler.kind.c_str(), opts.epochs,
              opts.batch_size, opts.lr, static_cast<unsigned long long>(opts.seed),
              opts.binarize.c_str(), vae::num_threads(), vae::num_threads() == 1 ? "" : "s");
  if (!a.resume.empty())
    std::printf("resuming from %s at epoch %lld of %d%s\n", a.resume.c_str(),
                static_cast<long long>(resumed.state.epoch), opts.epochs,
                resumed.state.recoveries > 0
                    ? (", lr " + lr_text(resumed.state.lr_or(opts.lr)) + " after " +
                       std::to_string(resumed.state.recoveries) + " recover" +
                       (resumed.state.recoveries == 1 ? "y" : "ies") + " from non-finite steps")
                          .c_str()
                    : "");
  std::fflush(stdout);

  ProgressLine bar("");
  vae::TrainCallbacks cb;
  cb.on_batch = [&](const vae::TrainProgress& p) {
    if (p.batch == 1) bar.restart("epoch " + std::to_string(p.epoch) + "/" + std::to_string(p.epochs));
    char detail[64];
    std::snprintf(detail, sizeof detail, "loss %.2f  %.0f ex/s", p.loss, p.examples_per_s);
    bar.update(p.batch, p.batches, detail);
  };
  cb.on_epoch = [&](const vae::EpochMetrics& m) {
    bar.clear();
    std::printf("epoch %lld/%d  train %.2f  %s %.2f (recon %.2f + kl %.2f)  %.0f ex/s  %.1f s\n",
                static_cast<long long>(m.epoch), opts.epochs, m.train_loss, m.on_val ? "val" : "test",
                m.test_loss, m.test_recon, m.test_kl, m.examples_per_s, m.seconds);
    std::fflush(stdout);
  };
  cb.on_recover = [&](const vae::TrainRecovery& r) {
    bar.clear();
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
  };
  cb.on_final = [&](const vae::FinalMetrics& f) {
    if (f.stopped_early)
      std::printf("stopped early after epoch %lld: no better validation loss for %d epochs\n",
                  static_cast<long long>(f.epochs_run), opts.patience);
    if (f.has_val)
      std::printf("best model (epoch %lld, val %.2f) on the test set: %.2f (recon %.2f + kl %.2f)\n",
                  static_cast<long long>(f.best_epoch), f.val_loss, f.test_loss, f.test_recon,
                  f.test_kl);
  };
  vae::train(out, cfg, opts, data, scaler, a.resume.empty() ? nullptr : &resumed, cb);

  if (!fs::exists(last, ec)) {
    std::printf("no epochs to run (--epochs %d)\n", opts.epochs);
    return 0;
  }
  const vae::Checkpoint final_ckpt = vae::load_checkpoint(last.string());
  if (cfg.channels > 0) {
    vae::Vae<float> model = vae::model_from_checkpoint(final_ckpt, 256);
    vae::write_png(out + "/samples.png", vae::sample_grid(model, 64, opts.seed));
    const vae::Dataset& source = data.test.n > 0 ? data.test : data.train;
    const vae::Dataset shown =
        opts.binarize == "dynamic" ? vae::binarize(source, vae::kTestBinarizeSeed) : source;
    vae::write_png(out + "/reconstructions.png", vae::reconstruction_grid(model, shown, 32));
  }
  std::printf("done: best %s loss %.2f at epoch %lld; wrote %s/{last,best}.safetensors, "
              "%s/{metrics.jsonl,final.json}%s\n",
              data.val.n > 0 ? "validation" : "test", final_ckpt.state.best_test_loss,
              static_cast<long long>(final_ckpt.state.best_epoch),
              out.c_str(), out.c_str(),
              cfg.channels > 0 ? (", " + out + "/{samples,reconstructions}.png").c_str() : "");
  std::fflush(stdout);
  std::printf("wrote %s\n", vae::write_report(out, data.test).c_str());
  return 0;
}

}  // namespace

Command add_train(CLI::App& root) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* app = root.add_subcommand("train", "Train a VAE; writes checkpoints, metrics and pictures to a run folder");
  app->add_option("--data", args->data,
                  "data: 'fashion-mnist' (Debian's dataset-fashion-mnist; $FASHION_MNIST_DIR overrides "
                  "the folder), a folder of MNIST-format IDX files, a folder of PNG/JPEG images "
                  "(one size; subfolders = classes), a .csv or a .npy file");
  app->add_option("--test-data", args->test_data,
                  "a separate test set (same format) for data without their own test files");
  app->add_option("--test-split", args->test_split,
                  "hold out this fraction of --data as the test set (default 0.1 for data without "
                  "test files; -1 = default)");
  app->add_option("--val-split", args->val_split,
                  "carve this fraction of the training rows out as validation: best.safetensors "
                  "and --patience then watch it, and the test set is scored once at the end");
  app->add_option("--patience", args->patience,
                  "stop after this many epochs without a better validation loss (0 = never; needs "
                  "--val-split)");
  app->add_option("--label-column", args->label_column, "CSV: the column of integer labels (name or 0-based index)");
  app->add_option("--scale", args->scale,
                  "auto, 01 (images /255; tables per-column min-max), standardize (per-column "
                  "mean/std) or none; fitted on the training rows and saved in the checkpoint");
  app->add_option("--likelihood", args->likelihood,
                  "bernoulli (data in [0,1]) or gaussian (--sigma); losses include all constants");
  app->add_option("--sigma", args->sigma,
                  "standard deviation of the gaussian likelihood, or 'learned' (one log sigma per "
                  "data dimension, trained with the model)");
  app->add_option("--arch", args->arch,
                  "mlp (dense layers of --hidden, decoder mirrored) or conv (preset: conv 32 and 64 "
                  "channels stride 2, dense 256, and the mirror with transposed convolutions)");
  app->add_option("--config", args->config,
                  "a JSON model description (encoder and decoder layer lists, latent, activation, "
                  "likelihood, sigma; see docs/models.md); flags given beside it override it");
  app->add_option("--objective", args->objective,
                  "elbo (the VAE) or iwae (the K-sample importance-weighted bound, --k)");
  app->add_option("--k", args->k, "importance samples per example for --objective iwae");
  app->add_flag("--conditional", args->conditional,
                "conditional VAE: the one-hot label is appended to the encoder's and the "
                "decoder's inputs (the data must have labels); vae sample --label picks a class");
  app->add_option("--clip-grad", args->clip_grad,
                  "clip the global gradient norm to this value before each step (0 = off)");
  app->add_option("--max-recoveries", args->max_recoveries,
                  "when a step's loss or gradients are NaN/Inf: go back to the last completed "
                  "epoch's state and halve the lr, at most this many times in the run, then stop "
                  "with an error (0 = stop at the first); may be given with --resume");
  app->add_option("--beta", args->beta,
                  "KL weight of the training objective (beta-VAE); reported losses stay the true "
                  "-ELBO (beta = 1)");
  app->add_option("--kl-warmup", args->kl_warmup,
                  "KL weight schedule: none, linear:EPOCHS (0 to beta over EPOCHS) or "
                  "cyclical:PERIOD (ramp over half of each PERIOD epochs, then hold)");
  app->add_option("--free-bits", args->free_bits,
                  "per-dimension KL floor in nats (batch mean); dimensions below it get no KL "
                  "gradient (0 = off)");
  app->add_option("--out", args->out, "run folder (default: runs/YYYYmmdd-HHMMSS)");
  app->add_option("--hidden", args->hidden,
                  "hidden layer widths of --arch mlp, e.g. 512,256; 'none' for a linear model");
  app->add_option("--latent", args->latent, "latent dimensions Z");
  app->add_option("--activation", args->activation, "hidden activation: relu, tanh, leaky_relu, elu");
  app->add_option("--epochs", args->epochs, "total epochs");
  app->add_option("--batch-size", args->batch_size, "examples per step");
  app->add_option("--lr", args->lr, "Adam learning rate");
  app->add_option("--seed", args->seed, "seed for initialisation, shuffling and sampling");
  app->add_option("--binarize", args->binarize,
                  "none: continuous pixels; dynamic: pixels ~ Bernoulli(intensity), redrawn every "
                  "epoch (test set binarised once, fixed seed)");
  add_threads_option(app, &args->threads);
  app->add_option("--resume", args->resume, "continue the run saved in this checkpoint (its last.safetensors)");
  app->add_flag("--overwrite", args->overwrite, "start over in a run folder that already holds a run");
  return {app, [args, app] { return run_train(*args, app); }};
}

}  // namespace vae_cli
