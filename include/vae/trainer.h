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
#pragma once

#include <functional>
#include <string>

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
};

/// What final.json holds: the best model's figures on the held-out splits.
struct FinalMetrics {
  int64_t best_epoch = 0;
  int64_t epochs_run = 0;      ///< epochs completed (fewer than asked when stopped early)
  bool stopped_early = false;
  bool has_val = false;
  double val_loss = 0;
  double test_loss = 0, test_recon = 0, test_kl = 0;
  std::string to_json(const std::string& likelihood) const;
};

struct TrainCallbacks {
  std::function<void(const TrainProgress&)> on_batch;
  std::function<void(const EpochMetrics&)> on_epoch;
  std::function<void(const FinalMetrics&)> on_final;
};

/// Trains into `out_dir` (which must exist) on already scaled data; `scaler` is saved in the
/// checkpoints. With `resume` non-null, continues from that checkpoint's state (its model, its
/// options except `train.epochs`, which may extend the run). Throws vae::Error when the data do
/// not fit the model or training diverges (non-finite loss).
void train(const std::string& out_dir, const ModelConfig& model_cfg, const TrainOptions& train,
           const DataSplits& data, const Scaler& scaler, const Checkpoint* resume,
           const TrainCallbacks& callbacks);

/// The file names inside a run folder.
inline constexpr const char* kLastCheckpoint = "last.safetensors";
inline constexpr const char* kBestCheckpoint = "best.safetensors";
inline constexpr const char* kMetricsFile = "metrics.jsonl";
inline constexpr const char* kFinalFile = "final.json";
/// The model description of a run whose layers came from --config (vae train --config F).
inline constexpr const char* kModelDescriptionFile = "model.json";

/// Loads a checkpoint's weights into a float model sized for batches of `max_batch`.
Vae<float> model_from_checkpoint(const Checkpoint& ckpt, int max_batch);

}  // namespace vae
