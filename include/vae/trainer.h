// The training loop: epochs of shuffled minibatches, Adam steps, an evaluation after each epoch,
// metrics.jsonl, and atomic checkpoints (last.safetensors every epoch, best.safetensors at the
// lowest held-out loss).
//
// Held-out data: with a validation split, each epoch is scored on it, best.safetensors is chosen
// on it, early stopping (--patience P: stop after P epochs without a new best) watches it, and the
// test set is touched once, at the end, by the best model (final.json). Without one, each epoch is
// scored on the test set and best.safetensors is chosen on it, as the literature's tables do.
//
// Determinism: everything random (initialisation, shuffling, binarisation, ε) comes from one
// Rng seeded with TrainOptions::seed, whose state is saved with each checkpoint. A run resumed
// from last.safetensors therefore ends with the same parameters, bit for bit, as one that never
// stopped (same machine, same thread count: BLAS results depend on both).
//
// Non-finite steps (TrainOptions::max_recoveries): every step checks the loss terms after
// forward and the global gradient norm after backward (one pass over the gradients; NaN or Inf
// when any gradient is), and each epoch checks the parameters before they are saved. When
// something is not finite the step is not taken; instead the run
//   1. restores the last good state: the parameters, Adam moments and step count, the training
//      RNG and the epoch's TrainState as of the end of the last completed epoch (what
//      last.safetensors holds; the start state before the first epoch). That state is already
//      kept in memory to be written as the checkpoint, so the guard costs no extra copy, and
//      restoring to exactly what is on disk keeps --resume reproducing a run bit for bit,
//      recoveries included (the redone epoch replays the same shuffle and the same ε);
//   2. halves the learning rate, for the rest of the run (TrainState::lr records it, so a
//      resumed run goes on with the lowered rate);
//   3. reports it through TrainCallbacks::on_recover and redoes the epoch.
// After max_recoveries recoveries in a run (resumes included) the next non-finite step throws
// vae::Error naming the epoch, the step and what was not finite; last.safetensors then still
// holds the last good epoch, since a checkpoint is only written after an epoch whose steps and
// parameters were all finite.
//
// Stopping (request_stop, e.g. from a SIGINT handler): train() polls the request after every
// step; at the first step that finds it set, it drops the rest of the epoch and returns as after
// its last completed epoch, whose state last.safetensors already holds, writing final.json for
// the epochs done (FinalMetrics::interrupted). The steps of the unfinished epoch are not saved:
// a resumed run redoes that epoch from its start, so --resume still reproduces the uninterrupted
// run bit for bit (saving mid-epoch would need the batcher's order and the epoch's sums too).
//
// Crash safety: each epoch writes metrics.jsonl, then best.safetensors (when the epoch is the
// best), then last.safetensors, each atomically (AtomicFile); final.json comes at the end.
// last.safetensors is the epoch's commit point: a run killed anywhere before it is replaced
// resumes from the previous epoch and redoes this one, rewriting the metrics line and
// best.safetensors with the same contents. At its start a run removes the temporaries of those
// four files that killed runs left (remove_stale_temporaries in io/fileio.h).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "vae/checkpoint.h"
#include "vae/dataset.h"
#include "vae/model.h"

namespace vae {

/// Figures for one epoch, as written to metrics.jsonl (losses in nats per example).
struct EpochMetrics {
  int64_t epoch = 0;
  double train_loss = 0, train_recon = 0, train_kl = 0;  ///< the true −ELBO and its parts
  double train_objective = 0;  ///< what was minimised: recon + β·KL (warm-up, free bits applied)
  double kl_weight = 1;        ///< β of the schedule at the end of the epoch
  double lr = 0;               ///< the learning rate of the epoch (TrainOptions::lr_schedule)
  bool on_val = false;  ///< held-out figures are of the validation split ("val_*" keys), else test
  double test_loss = 0, test_recon = 0, test_kl = 0;  ///< the held-out figures (val or test)
  double examples_per_s = 0;  ///< training examples per second, evaluation excluded
  double seconds = 0;         ///< wall time of the epoch, evaluation included
  std::string to_json() const;
};

/// Progress inside an epoch, reported after every batch.
struct TrainProgress {
  int64_t epoch = 0, epochs = 0;
  size_t batch = 0, batches = 0;  ///< batches done in this epoch, and per epoch
  double loss = 0;                ///< running mean training loss of this epoch (nats/example)
  double examples_per_s = 0;      ///< this epoch so far
  double elapsed_s = 0;           ///< this epoch so far
  double eta_s = 0;               ///< the whole run's time left (run_eta_seconds)
};

/// Seconds left in the run after progress `p`: the rest of this epoch at this epoch's rate of
/// batches (elapsed_s / batch), plus each of the epochs after it at `epoch_s` seconds, the wall
/// time of the run's last completed epoch (evaluation and checkpoints included), or, before an
/// epoch has completed (epoch_s 0), at this epoch's rate of batches.
double run_eta_seconds(const TrainProgress& p, double epoch_s);

/// What final.json holds: the best model's figures on the held-out splits.
struct FinalMetrics {
  int64_t best_epoch = 0;
  int64_t epochs_run = 0;      ///< epochs completed (fewer than asked when stopped early)
  bool stopped_early = false;
  bool interrupted = false;  ///< stopped by request_stop(); "interrupted": true in final.json
  bool has_val = false;
  double val_loss = 0;
  double test_loss = 0, test_recon = 0, test_kl = 0;
  std::string to_json(const std::string& likelihood) const;
};

/// A training step that was not finite, and what train() did about it (file comment).
struct TrainRecovery {
  int64_t epoch = 0;  ///< the epoch the step belongs to (1-based)
  int64_t step = 0;   ///< the run's optimiser step (1-based) that was not finite
  /// What was not finite (nonfinite_loss_term, nonfinite_tensors): "reconstruction term",
  /// "KL term", "IWAE objective", "gradient of decoder.out.weight", "parameter encoder.0.bias"...
  std::string what;
  int64_t restored_epoch = 0;  ///< the state went back to the end of this epoch (0: the start)
  double old_lr = 0, new_lr = 0;
  int64_t recovery = 0;  ///< this recovery's number in the run (1-based)
  int max_recoveries = 0;
};

struct TrainCallbacks {
  std::function<void(const TrainProgress&)> on_batch;
  std::function<void(const EpochMetrics&)> on_epoch;
  std::function<void(const FinalMetrics&)> on_final;
  /// After each recovery from a non-finite step, before the epoch is redone.
  std::function<void(const TrainRecovery&)> on_recover;
  /// Testing and inspection hook: called after every backward pass, before the gradients are
  /// checked, clipped and applied, with the run's step number (1-based, as TrainRecovery::step)
  /// and the flat gradient buffer (n values, param_table layout). It may change the gradients
  /// (tests poison one to force a recovery).
  std::function<void(int64_t step, float* grads, size_t n)> after_backward;
};

/// The loss term of a step that is not finite, or "" when all are: "reconstruction term",
/// "KL term", "reconstruction and KL terms", or "IWAE objective" (`iw_objective` non-null:
/// the step minimised Vae::iw_objective(), checked after the two reported terms).
std::string nonfinite_loss_term(const LossParts& parts, const double* iw_objective = nullptr);

/// The tensors of `values` (a flat buffer in `table`'s layout: parameters or their gradients)
/// that hold a NaN or Inf, or "" when none does. Named nearest the output first (reverse table
/// order, the order backward reaches them), at most three: "decoder.out.weight",
/// "decoder.out.bias, decoder.out.weight, decoder.0.bias and 4 other tensors".
std::string nonfinite_tensors(const std::vector<ParamInfo>& table, const float* values);

/// Asks a running (or the next) train() to stop at the end of its current step (file comment).
/// Async-signal-safe: it only sets a lock-free atomic flag, which stays set until
/// clear_stop_request().
void request_stop();
/// Whether a stop was requested and not cleared since.
bool stop_requested();
void clear_stop_request();

/// Trains into `out_dir` (which must exist) on already scaled data; `scaler` is saved in the
/// checkpoints. With `resume` non-null, continues from that checkpoint's state (its model, its
/// options except `train.epochs`, which may extend the run, and `train.max_recoveries`).
/// Throws vae::Error when the data do not fit the model, when a step is not finite after
/// train.max_recoveries recoveries (file comment), or when a file cannot be written (the
/// previous checkpoint is then left intact). `prints` (load_splits) are saved in the checkpoints
/// beside the split the best model is chosen on ("selected_on").
void train(const std::string& out_dir, const ModelConfig& model_cfg, const TrainOptions& train,
           const DataSplits& data, const Scaler& scaler, const Checkpoint* resume,
           const TrainCallbacks& callbacks, const SourceFingerprints& prints = {});

/// The file names inside a run folder.
inline constexpr const char* kLastCheckpoint = "last.safetensors";
inline constexpr const char* kBestCheckpoint = "best.safetensors";
inline constexpr const char* kMetricsFile = "metrics.jsonl";
inline constexpr const char* kFinalFile = "final.json";
/// The checkpoints TrainOptions::save_every keeps: epoch-0005.safetensors (at least four digits).
inline constexpr const char* kEpochCheckpointPattern = "epoch-*.safetensors";
std::string epoch_checkpoint_name(int64_t epoch);
/// The model description of a run whose layers came from --config (vae train --config F).
inline constexpr const char* kModelDescriptionFile = "model.json";

}  // namespace vae
