// `vae train`'s option table and what is made from it (tools/vae/train_options.h).
#include "train_options.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <type_traits>
#include <utility>

#include "cli.h"
#include "io/number_text.h"
#include "vae/error.h"
#include "vae/trainer.h"

namespace vae_cli {

namespace {

using vae::FieldError;

// ---- Values as the command line spells them -------------------------------------------------
// to_text writes what from_text reads; from_text throws FieldError naming `field`.

std::string to_text(int v) { return std::to_string(v); }
std::string to_text(uint64_t v) { return std::to_string(v); }
std::string to_text(double v) { return vae::shortest(v); }
std::string to_text(const std::string& v) { return v; }
std::string to_text(bool v) { return v ? "true" : "false"; }
std::string to_text(vae::Binarize v) { return vae::binarize_name(v); }
std::string to_text(vae::Objective v) { return vae::objective_name(v); }
std::string to_text(vae::Scale v) { return vae::scale_name(v); }
std::string to_text(char v) { return vae::csv_delimiter_name(v); }
std::string to_text(vae::CsvHeader v) { return vae::csv_header_name(v); }
std::string to_text(const vae::KlWarmup& v) { return vae::kl_warmup_name(v); }
std::string to_text(const vae::LrSchedule& v) { return vae::lr_schedule_name(v); }
std::string to_text(vae::Activation v) { return vae::activation_name(v); }

[[noreturn]] void expected(const std::string& field, const std::string& what,
                           const std::string& text) {
  throw FieldError(field, "expected " + what + ", got '" + text + "'");
}

void from_text(const std::string& text, const std::string& field, int& v) {
  size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || n < std::numeric_limits<int>::min() ||
      n > std::numeric_limits<int>::max())
    expected(field, "an integer", text);
  v = static_cast<int>(n);
}

void from_text(const std::string& text, const std::string& field, uint64_t& v) {
  size_t used = 0;
  try {
    if (text.find('-') == std::string::npos) v = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size()) expected(field, "an integer >= 0", text);
}

void from_text(const std::string& text, const std::string& field, double& v) {
  size_t used = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || !std::isfinite(v)) expected(field, "a number", text);
}

void from_text(const std::string& text, const std::string&, std::string& v) { v = text; }
void from_text(const std::string&, const std::string&, bool& v) { v = true; }
void from_text(const std::string& text, const std::string&, vae::Binarize& v) {
  v = vae::parse_binarize(text);
}
void from_text(const std::string& text, const std::string&, vae::Objective& v) {
  v = vae::parse_objective(text);
}
void from_text(const std::string& text, const std::string&, vae::Scale& v) {
  v = vae::parse_scale(text);
}
void from_text(const std::string& text, const std::string&, char& v) {
  v = vae::parse_csv_delimiter(text);
}
void from_text(const std::string& text, const std::string&, vae::CsvHeader& v) {
  v = vae::parse_csv_header(text);
}
void from_text(const std::string& text, const std::string&, vae::KlWarmup& v) {
  v = vae::parse_kl_warmup(text);
}
void from_text(const std::string& text, const std::string&, vae::LrSchedule& v) {
  v = vae::parse_lr_schedule(text);
}
void from_text(const std::string& text, const std::string&, vae::Activation& v) {
  v = vae::parse_activation(text);
}

// ---- ModelConfig's fields as the command line spells them -----------------------------------
// One small function each, so that a change of a field's type changes these lines alone.

// "400", "512,256", or "none" for a linear model.
std::string hidden_text(const vae::ModelConfig& cfg) {
  std::string text;
  for (size_t i = 0; i < cfg.hidden.size(); ++i)
    text += (i ? "," : "") + std::to_string(cfg.hidden[i]);
  return cfg.hidden.empty() ? "none" : text;
}

void set_hidden(vae::ModelConfig& cfg, const std::string& text) {
  std::vector<int> widths;
  if (!text.empty() && text != "none") {
    for (size_t pos = 0; pos <= text.size();) {
      const size_t comma = std::min(text.find(',', pos), text.size());
      int width = 0;
      try {
        from_text(text.substr(pos, comma - pos), "hidden", width);
      } catch (const FieldError&) {
        expected("hidden", "widths separated by commas (e.g. 512,256) or 'none'", text);
      }
      widths.push_back(width);
      pos = comma + 1;
    }
  }
  cfg.hidden = widths;
}

std::string arch_text(const vae::ModelConfig& cfg) { return vae::arch_name(cfg.arch); }

// The presets; layers of one's own come from --config (Arch::Custom).
void set_arch(vae::ModelConfig& cfg, const std::string& text) {
  if (text != vae::arch_name(vae::Arch::Mlp) && text != vae::arch_name(vae::Arch::Conv))
    throw FieldError("arch", "must be 'mlp' or 'conv', got '" + text + "'");
  cfg.arch = vae::parse_arch(text);
}

std::string likelihood_text(const vae::ModelConfig& cfg) {
  return vae::likelihood_kind_name(cfg.likelihood);
}

// The likelihood rows come before --sigma's, so a given --sigma is read against the likelihood
// the command line names (vae::set_likelihood keeps the word that is not given).
void set_likelihood(vae::ModelConfig& cfg, const std::string& text) {
  vae::set_likelihood(cfg, text, std::nullopt);
}

// A positive number, or "learned".
std::string sigma_text(const vae::ModelConfig& cfg) {
  return vae::sigma_role(cfg.likelihood) == vae::SigmaRole::Learned ? "learned"
                                                                     : vae::shortest(cfg.sigma);
}

void set_sigma(vae::ModelConfig& cfg, const std::string& text) {
  vae::set_likelihood(cfg, std::nullopt, text);
}

std::string prior_text(const vae::ModelConfig& cfg) { return vae::prior_name(cfg.prior); }
void set_prior(vae::ModelConfig& cfg, const std::string& text) { cfg.prior = vae::parse_prior(text); }

// The model a run's flags describe (the mlp and conv presets), rather than a --config file.
bool model_from_flags(const vae::ModelConfig& cfg) { return cfg.arch != vae::Arch::Custom; }

// ---- When the reproduced command line spells a row ------------------------------------------

bool always(const TrainFlag&, const TrainSetup&) { return true; }
bool never(const TrainFlag&, const TrainSetup&) { return false; }
bool not_default(const TrainFlag& row, const TrainSetup& s) {
  return row.get(s) != row.default_text();
}
bool model_flag(const TrainFlag&, const TrainSetup& s) { return model_from_flags(s.model); }
bool model_flag_not_default(const TrainFlag& row, const TrainSetup& s) {
  return model_from_flags(s.model) && not_default(row, s);
}
bool mlp_flag(const TrainFlag&, const TrainSetup& s) { return s.model.arch == vae::Arch::Mlp; }
bool gaussian_flag(const TrainFlag&, const TrainSetup& s) {
  return model_from_flags(s.model) && s.model.likelihood != vae::Likelihood::Bernoulli;
}
bool vamp_flag(const TrainFlag&, const TrainSetup& s) {
  return s.model.prior == vae::Prior::Vamp;
}
bool iwae_flag(const TrainFlag&, const TrainSetup& s) {
  return s.train.objective == vae::Objective::Iwae;
}

// ---- Rows -----------------------------------------------------------------------------------

using Shown = bool (*)(const TrainFlag&, const TrainSetup&);

template <class Value>
const char* value_name() {
  if (std::is_same_v<Value, char>) return "TEXT";  // a CSV delimiter by name
  if (std::is_integral_v<Value>) return std::is_signed_v<Value> ? "INT" : "UINT";
  return std::is_floating_point_v<Value> ? "FLOAT" : "TEXT";
}

// A row over one member of TrainSetup; `member` is a generic lambda returning a reference to
// it in a TrainSetup, const or not.
template <class Member>
TrainFlag member_row(const char* flag, const char* field, Member member, OnResume on_resume,
                     Shown shown, std::string help) {
  using Value = std::decay_t<decltype(member(std::declval<TrainSetup&>()))>;
  return {flag,
          field,
          on_resume,
          std::is_same_v<Value, bool>,
          [member](const TrainSetup& s) { return to_text(member(s)); },
          [member, field](TrainSetup& s, const std::string& text) {
            from_text(text, field, member(s));
          },
          shown,
          std::move(help),
          value_name<Value>()};
}

// A row over a ModelConfig field spelled by a text/set pair of functions.
TrainFlag model_row(const char* flag, const char* field,
                    std::string (*text)(const vae::ModelConfig&),
                    void (*set)(vae::ModelConfig&, const std::string&), Shown shown,
                    std::string help) {
  return {flag,
          field,
          OnResume::Refused,
          false,
          [text](const TrainSetup& s) { return text(s.model); },
          [set](TrainSetup& s, const std::string& value) { set(s.model, value); },
          shown,
          std::move(help),
          "TEXT"};
}

#define VAE_SETUP(path) [](auto& s) -> auto& { return s.path; }

// long: the table itself, one row (flag, field, resume rule, when shown, help) per option.
std::vector<TrainFlag> make_train_flags() {
  constexpr OnResume kRefused = OnResume::Refused, kAllowed = OnResume::Allowed;
  return {
      // ---- Data ----
      member_row("--data", "data", VAE_SETUP(train.data.data), kAllowed, always,
                 "data: 'fashion-mnist' (Debian's dataset-fashion-mnist; $FASHION_MNIST_DIR "
                 "overrides the folder), a folder of MNIST-format IDX files, a folder of PNG/JPEG "
                 "images (one size; subfolders = classes), a .csv or a .npy file"),
      member_row("--test-data", "test_data", VAE_SETUP(train.data.test_data), kRefused,
                 not_default, "a separate test set (same format) for data without their own test files"),
      member_row("--test-split", "test_split", VAE_SETUP(train.data.test_split), kRefused,
                 not_default,
                 "hold out this fraction of --data as the test set (default 0.1 for data without "
                 "test files; -1 = default)"),
      member_row("--val-split", "val_split", VAE_SETUP(train.data.val_split), kRefused,
                 not_default,
                 "validation rows taken from the training rows: best.safetensors and --patience "
                 "watch them, and the test set is scored once at the end (default -1: the last "
                 "sixth of Fashion-MNIST/MNIST training rows, 10% of other data; 0 = select the "
                 "model on the test set)"),
      member_row("--label-column", "label_column", VAE_SETUP(train.data.label_column), kRefused,
                 not_default,
                 "CSV: the column of labels (name or 0-based index): integers, or class names "
                 "(then numbered in sorted order and shown by name)"),
      member_row("--delimiter", "delimiter", VAE_SETUP(train.data.delimiter), kRefused,
                 not_default,
                 "CSV field delimiter: auto (sniffed from the first lines: ',', tab, ';' or "
                 "spaces), ',', ';', tab or space (runs of spaces and tabs)"),
      member_row("--header", "header", VAE_SETUP(train.data.header), kRefused, not_default,
                 "CSV: is the first line a header? yes, no, or auto (a header when a field "
                 "other than a label column given by index is not a number; a header of "
                 "numbers only needs yes)"),
      member_row("--scale", "scale", VAE_SETUP(train.data.scale), kRefused, not_default,
                 "auto, 01 (images /255; tables per-column min-max), standardize (per-column "
                 "mean/std) or none; fitted on the training rows and saved in the checkpoint"),
      member_row("--limit", "limit", VAE_SETUP(train.data.limit), kRefused, not_default,
                 "keep only the first N examples of each data source read (train and test "
                 "files alike), before any split: a quick smoke test (0 = all)"),
      // ---- Model ----
      member_row("--config", "config", VAE_SETUP(config), kRefused, not_default,
                 "a JSON model description (encoder and decoder layer lists, latent, activation, "
                 "likelihood, sigma, prior, pseudo_inputs, top_latent; see docs/models.md) and optionally training options by "
                 "name (\"train\": {\"batch_size\": 100}); flags given beside it override it"),
      model_row("--arch", "arch", arch_text, set_arch, model_flag_not_default,
                "mlp (dense layers of --hidden, decoder mirrored) or conv (preset: conv 32 and 64 "
                "channels stride 2, dense 256, and the mirror with transposed convolutions)"),
      model_row("--hidden", "hidden", hidden_text, set_hidden, mlp_flag,
                "hidden layer widths of --arch mlp, e.g. 512,256; 'none' for a linear model"),
      member_row("--latent", "latent", VAE_SETUP(model.latent), kRefused, model_flag,
                 "latent dimensions Z"),
      member_row("--activation", "activation", VAE_SETUP(model.activation), kRefused, model_flag,
                 "hidden activation: relu, tanh, leaky_relu, elu"),
      model_row("--likelihood", "likelihood", likelihood_text, set_likelihood,
                model_flag_not_default,
                "bernoulli (data in [0,1]) or gaussian (--sigma); losses include all constants"),
      model_row("--sigma", "sigma", sigma_text, set_sigma, gaussian_flag,
                "standard deviation of the gaussian likelihood, or 'learned' (one log sigma per "
                "data dimension, trained with the model)"),
      {"--conditional", "num_classes", kRefused, true,
       [](const TrainSetup& s) { return to_text(s.model.num_classes > 0); },
       // The data's class count replaces the marker once they are read.
       [](TrainSetup& s, const std::string&) { s.model.num_classes = 1; }, not_default,
       "conditional VAE: the one-hot label is appended to the encoder's and the decoder's "
       "inputs (the data must have labels); vae sample --label picks a class",
       ""},
      model_row("--prior", "prior", prior_text, set_prior, not_default,
                "p(z): standard (N(0, I)) or vamp (the VampPrior: a mixture of the encoder's "
                "posteriors at --pseudo-inputs learned inputs; its KL term is estimated at the "
                "drawn z; unconditional models only)"),
      member_row("--pseudo-inputs", "pseudo_inputs", VAE_SETUP(model.pseudo_inputs), kRefused,
                 vamp_flag, "the VampPrior's number of pseudo-inputs K (1..10000)"),
      member_row("--top-latent", "top_latent", VAE_SETUP(model.top_latent), kRefused,
                 not_default,
                 "Z2 > 0: a hierarchical VAE with two stochastic layers, z = [z1, z2], the top "
                 "layer z2 the last Z2 of the --latent values; q(z1|x, z2) and p(z1|z2) repeat "
                 "the encoder's layers (0 = one stochastic layer)"),
      // ---- Training ----
      member_row("--epochs", "epochs", VAE_SETUP(train.epochs), kAllowed, always, "total epochs"),
      member_row("--batch-size", "batch_size", VAE_SETUP(train.batch_size), kRefused, always,
                 "examples per step"),
      member_row("--lr", "lr", VAE_SETUP(train.lr), kRefused, always, "Adam learning rate"),
      member_row("--lr-schedule", "lr_schedule", VAE_SETUP(train.lr_schedule), kRefused,
                 not_default,
                 "learning rate per epoch: none; step:E:G (times G every E epochs); cosine "
                 "(lr * (1 + cos(pi t/epochs))/2 at epoch t); plateau:P:F (times F each time the "
                 "held-out loss goes P epochs without a new best)"),
      member_row("--weight-decay", "weight_decay", VAE_SETUP(train.weight_decay), kRefused,
                 not_default,
                 "decoupled weight decay (AdamW): each step multiplies the parameters by "
                 "1 - lr * W before the Adam update (0 = off)"),
      member_row("--seed", "seed", VAE_SETUP(train.seed), kRefused, always,
                 "seed for initialisation, shuffling and sampling"),
      member_row("--binarize", "binarize", VAE_SETUP(train.binarize), kRefused, always,
                 "none: continuous pixels; dynamic: pixels ~ Bernoulli(intensity), redrawn every "
                 "epoch (test set binarised once, fixed seed)"),
      member_row("--beta", "beta", VAE_SETUP(train.beta), kRefused, not_default,
                 "KL weight of the training objective (beta-VAE); reported losses stay the true "
                 "-ELBO (beta = 1)"),
      member_row("--kl-warmup", "kl_warmup", VAE_SETUP(train.kl_warmup), kRefused, not_default,
                 "KL weight schedule: none, linear:EPOCHS (0 to beta over EPOCHS) or "
                 "cyclical:PERIOD (ramp over half of each PERIOD epochs, then hold)"),
      member_row("--free-bits", "free_bits", VAE_SETUP(train.free_bits), kRefused, not_default,
                 "per-dimension KL floor in nats (batch mean); dimensions below it get no KL "
                 "gradient (0 = off)"),
      member_row("--patience", "patience", VAE_SETUP(train.patience), kRefused, not_default,
                 "stop after this many epochs without a better validation loss (0 = never; "
                 "needs --val-split)"),
      member_row("--objective", "objective", VAE_SETUP(train.objective), kRefused, not_default,
                 "elbo (the VAE) or iwae (the K-sample importance-weighted bound, --k)"),
      member_row("--k", "k", VAE_SETUP(train.k), kRefused, iwae_flag,
                 "importance samples per example for --objective iwae"),
      member_row("--clip-grad", "clip_grad", VAE_SETUP(train.clip_grad), kRefused, not_default,
                 "clip the global gradient norm to this value before each step (0 = off)"),
      member_row("--max-recoveries", "max_recoveries", VAE_SETUP(train.max_recoveries), kAllowed,
                 not_default,
                 "when a step's loss or gradients are NaN/Inf: go back to the last completed "
                 "epoch's state and halve the lr, at most this many times in the run, then stop "
                 "with an error (0 = stop at the first); may be given with --resume"),
      member_row("--save-every", "save_every", VAE_SETUP(train.save_every), kAllowed, not_default,
                 "also keep the checkpoint of every Nth epoch as epoch-0005.safetensors "
                 "(0 = only last and best); may be given with --resume"),
      member_row("--init-from", "init_from", VAE_SETUP(train.init_from), kRefused, not_default,
                 "start from this checkpoint's weights (a run's, or one vae import wrote): its "
                 "model unless --config or model flags change it (the tensors must then still "
                 "match), a fresh optimiser, this run's options"),
      // ---- The command's own ----
      member_row("--out", "out", VAE_SETUP(out), kAllowed, always,
                 "run folder (default: runs/YYYYmmdd-HHMMSS)"),
      member_row("--threads", "threads", VAE_SETUP(threads), kAllowed, never, threads_help()),
      member_row("--resume", "resume", VAE_SETUP(resume), kAllowed, never,
                 "continue the run saved in this checkpoint (its last.safetensors)"),
      member_row("--overwrite", "overwrite", VAE_SETUP(overwrite), kRefused, never,
                 "start over in a run folder that already holds a run"),
  };
}

#undef VAE_SETUP

}  // namespace

std::string TrainFlag::default_text() const {
  static const TrainSetup defaults;  // built once (a temporary here trips GCC 12's
  return get(defaults);              // -Wmaybe-uninitialized on its strings)
}

const std::vector<TrainFlag>& train_flags() {
  static const std::vector<TrainFlag> rows = make_train_flags();
  return rows;
}

const TrainFlag& train_flag(const std::string& flag) {
  for (const TrainFlag& row : train_flags())
    if (row.flag == flag) return row;
  vae::assert_fail("the flag has a row in train_flags()", __FILE__, __LINE__);
}

std::string flag_for_field(const std::string& field) {
  for (const TrainFlag& row : train_flags())
    if (row.field == field) return row.flag;
  return field;
}

std::string flag_message(const vae::FieldError& e) {
  return flag_for_field(e.field()) + ": " + e.problem_naming(flag_for_field);
}

bool GivenFlags::has(const std::string& flag) const {
  for (const auto& [row, text] : items)
    if (row->flag == flag) return true;
  return false;
}

std::string GivenFlags::text(const std::string& flag) const {
  for (const auto& [row, text] : items)
    if (row->flag == flag) return text;
  return "";
}

TrainFlagParser::TrainFlagParser(CLI::App* app) : slots_(train_flags().size()) {
  for (size_t i = 0; i < slots_.size(); ++i) {
    const TrainFlag& row = train_flags()[i];
    Slot& slot = slots_[i];
    if (row.is_switch) {
      slot.option = app->add_flag(row.flag, slot.on, row.help);
    } else {
      slot.text = row.default_text();
      slot.option = app->add_option(row.flag, slot.text, row.help)
                        ->type_name(row.value_name)
                        ->default_str(slot.text);
    }
  }
}

GivenFlags TrainFlagParser::given() const {
  GivenFlags given;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& slot = slots_[i];
    if (slot.option->count() > 0)
      given.items.emplace_back(&train_flags()[i], train_flags()[i].is_switch ? to_text(slot.on)
                                                                               : slot.text);
  }
  return given;
}

void apply_flags(TrainSetup& setup, const GivenFlags& given) {
  for (const auto& [row, text] : given.items) row->set(setup, text);
}

void check_resumable(const GivenFlags& given) {
  std::vector<std::string> allowed;
  for (const TrainFlag& row : train_flags())
    if (row.on_resume == OnResume::Allowed && row.flag != "--resume") allowed.push_back(row.flag);
  std::string list;
  for (size_t i = 0; i < allowed.size(); ++i)
    list += (i == 0 ? "" : i + 1 == allowed.size() ? " and " : ", ") + allowed[i];
  for (const auto& [row, text] : given.items)
    if (row->on_resume == OnResume::Refused)
      throw UsageError(row->flag + ": cannot be combined with --resume (a resumed run keeps its "
                       "checkpoint's model and options; only " + list + " apply)");
}

std::vector<std::string> reproduce_words(const vae::Checkpoint& ckpt, const std::string& out_dir) {
  TrainSetup run;
  run.train = ckpt.train;
  run.model = ckpt.model;
  run.out = out_dir;
  if (!model_from_flags(run.model)) run.config = out_dir + "/" + vae::kModelDescriptionFile;
  std::vector<std::string> words = {"vae", "train"};
  for (const TrainFlag& row : train_flags()) {
    if (!row.shown(row, run)) continue;
    words.push_back(row.flag);
    if (!row.is_switch) words.push_back(row.get(run));
  }
  return words;
}

std::string reproduce_command(const vae::Checkpoint& ckpt, const std::string& out_dir) {
  const std::vector<std::string> words = reproduce_words(ckpt, out_dir);
  std::string cmd;
  for (size_t i = 0; i < words.size(); ++i) cmd += (i ? " " : "") + shell_quote(words[i]);
  return cmd;
}

std::string shell_quote(const std::string& s) {
  const bool safe = !s.empty() && s.find_first_not_of(
                                      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789_./,:=+-@%") == std::string::npos;
  if (safe) return s;
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

}  // namespace vae_cli
