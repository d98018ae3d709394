// The hyperparameters of a training run, typed: what `vae train` was asked for and what a
// checkpoint's "train_options" metadata holds.
//
// JSON form (the checkpoint's strings, unchanged since format version 1 first shipped): one
// object, keys sorted, enums by name:
//   {"batch_size": 128, "beta": 1.0, "binarize": "none", "clip_grad": 0.0,
//    "data": "fashion-mnist", "delimiter": "auto", "epochs": 10, "free_bits": 0.0,
//    "header": "auto", "k": 1, "kl_warmup": "none",
//    "label_column": "", "limit": 0, "lr": 0.001, "lr_schedule": "none", "max_recoveries": 5, "objective": "elbo",
//    "optimizer": "adam", "patience": 0, "save_every": 0, "scale": "auto", "seed": 1, "test_data": "",
//    "test_split": -1.0, "val_split": -1.0, "weight_decay": 0.0}
// One table in src/train/train_options.cpp lists the keys; keys added after the format first
// shipped are optional there, and a file without one reads as the behaviour before the option.
#pragma once

#include <cstdint>
#include <string>

#include "vae/data_pipeline.h"

namespace vae {

/// How training presents the pixels: as they are, or redrawn as Bernoulli(intensity) samples
/// every epoch (held-out sets binarised once with kTestBinarizeSeed).
enum class Binarize { None, Dynamic };
const char* binarize_name(Binarize binarize);  ///< "none", "dynamic"
/// Throws FieldError("binarize", ...) for any other text.
Binarize parse_binarize(const std::string& text);

/// What a training step minimises.
enum class Objective {
  Elbo,  ///< the VAE's −ELBO (with β, warm-up and free bits)
  Iwae,  ///< the K-sample importance-weighted bound (Vae::forward_iw)
};
const char* objective_name(Objective objective);  ///< "elbo", "iwae"
/// Throws FieldError("objective", ...) for any other text.
Objective parse_objective(const std::string& text);

/// The schedule of the KL weight over training, in epochs t (fractional):
///   none        β
///   linear:E    β · min(1, t/E)                      (Bowman et al. 2016)
///   cyclical:P  β · min(1, 2u), u = (t mod P)/P       (Fu et al. 2019: ramp, then hold)
struct KlWarmup {
  enum class Kind { None, Linear, Cyclical };
  Kind kind = Kind::None;
  double period = 0;  ///< E or P in epochs: a positive number unless kind is None

  double weight(double beta, double epochs_done) const;
};
/// "none", "linear:5", "cyclical:2.5" (the period in its shortest exact form).
std::string kl_warmup_name(const KlWarmup& warmup);
/// Reads what kl_warmup_name writes (any number form std::stod reads as the period); throws
/// FieldError("kl_warmup", ...) for anything else or a period that is not a positive number.
KlWarmup parse_kl_warmup(const std::string& text);

/// The learning rate of epoch t + 1 (t = epochs completed), from the base rate η₀ (lr, or the
/// rate recoveries from non-finite steps lowered it to); set once at the start of each epoch:
///   none          η₀
///   step:E:G      η₀ · G^⌊t/E⌋            every E epochs the rate is multiplied by G
///   cosine        η₀ · ½(1 + cos(π t/T))  T = the run's epochs (Loshchilov & Hutter 2017,
///                                         one cycle, no restarts; the last epoch trains at a
///                                         small positive rate)
///   plateau:P:F   η₀ · F^r                r = the times the held-out loss (validation, else
///                                         test) went P epochs without a new best, counted in
///                                         the checkpoint's train state (TrainState) so that
///                                         --resume continues it bit for bit
/// E and P are whole epochs >= 1; G and F lie in (0, 1].
struct LrSchedule {
  enum class Kind { None, Step, Cosine, Plateau };
  Kind kind = Kind::None;
  int every = 0;      ///< E or P (Step, Plateau)
  double factor = 0;  ///< G or F (Step, Plateau)

  /// The rate for the epoch after `epochs_done` of a run of `epochs`, with `reductions` plateau
  /// reductions so far (ignored by the other kinds).
  double rate(double base_lr, int64_t epochs_done, int epochs, int64_t reductions) const;
};
/// "none", "step:10:0.5", "cosine", "plateau:3:0.1".
std::string lr_schedule_name(const LrSchedule& schedule);
/// Reads what lr_schedule_name writes; throws FieldError("lr_schedule", ...) for anything else.
LrSchedule parse_lr_schedule(const std::string& text);

/// The hyperparameters of a training run (what `vae train` was asked for).
struct TrainOptions {
  DataOptions data;                    ///< where the data come from, splits, scaling
  int epochs = 10;                     ///< total epochs of the run
  int batch_size = 128;
  double lr = 1e-3;
  LrSchedule lr_schedule;              ///< the rate over the epochs (none: constant)
  /// Decoupled weight decay λ (AdamW, Loshchilov & Hutter 2019): each step first multiplies
  /// every parameter by 1 − lr·λ (src/optim/adam.h). 0 = plain Adam.
  double weight_decay = 0.0;
  uint64_t seed = 1;
  Binarize binarize = Binarize::None;
  int patience = 0;                    ///< early stopping on validation loss; 0 = off
  double beta = 1.0;                   ///< KL weight of the training objective (β-VAE)
  KlWarmup kl_warmup;                  ///< the schedule of β (none: constant)
  double free_bits = 0.0;              ///< per-dimension KL floor λ in nats (0 = off)
  Objective objective = Objective::Elbo;
  int k = 1;                           ///< importance samples per example (iwae)
  double clip_grad = 0.0;              ///< largest global gradient norm (0 = no clipping)
  /// Non-finite steps the run may recover from (trainer.h: restore the last epoch's state,
  /// halve the lr) before it stops with an error; counted over the whole run, resumes included
  /// (TrainState::recoveries). 0 = stop at the first. Checkpoints written before the option
  /// existed read as 0, the behaviour they were trained under.
  int max_recoveries = 5;
  /// Keep a checkpoint of every save_every-th epoch as epoch-0005.safetensors beside last and
  /// best (0 = none).
  int save_every = 0;
  /// A checkpoint whose weights start a new run (vae import writes one from PyTorch weights):
  /// its parameters replace the random initialisation; the optimiser starts fresh and every
  /// other option is this run's. Its model must have this run's parameter table (names and
  /// shapes), else train() throws FieldError("init_from", ...). Empty: random initialisation.
  /// A resumed run ignores it (it continues from its own checkpoint).
  std::string init_from;

  /// The KL weight after `epochs_done` (fractional) epochs of training: kl_warmup applied to β.
  double kl_weight(double epochs_done) const { return kl_warmup.weight(beta, epochs_done); }

  /// Throws vae::FieldError naming the first field out of range ("batch_size", "lr", ...; the
  /// data options' own names for theirs).
  void validate() const;
  std::string to_json() const;
  /// Reads and validates the JSON form; throws vae::Error "<origin>: train_options: ..." (a plain
  /// Error: a bad file, not a bad option).
  static TrainOptions from_json(const std::string& text, const std::string& origin);
};

}  // namespace vae
