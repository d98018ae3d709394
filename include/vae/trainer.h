// The training loop: epochs of shuffled minibatches, Adam steps, a test evaluation after each
// epoch, metrics.jsonl, and atomic checkpoints (last.safetensors every epoch, best.safetensors
// at the lowest test loss).
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
  double train_loss = 0, train_recon = 0, train_kl = 0;
  double test_loss = 0, test_recon = 0, test_kl = 0;
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

struct TrainCallbacks {
  std::function<void(const TrainProgress&)> on_batch;
  std::function<void(const EpochMetrics&)> on_epoch;
};

/// Trains into `out_dir` (which must exist). With `resume` non-null, continues from that
/// checkpoint's state (its model, its options except `train.epochs`, which may extend the run).
/// Throws vae::Error when the data do not fit the model or training diverges (non-finite loss).
void train(const std::string& out_dir, const ModelConfig& model_cfg, const TrainOptions& train,
           const DataSplits& data, const Checkpoint* resume, const TrainCallbacks& callbacks);

/// The file names inside a run folder.
inline constexpr const char* kLastCheckpoint = "last.safetensors";
inline constexpr const char* kBestCheckpoint = "best.safetensors";
inline constexpr const char* kMetricsFile = "metrics.jsonl";

/// Loads a checkpoint's weights into a float model sized for batches of `max_batch`.
Vae<float> model_from_checkpoint(const Checkpoint& ckpt, int max_batch);

}  // namespace vae
