// Checkpoints: one .safetensors file (src/io/safetensors.h) holding
//   tensors   every parameter by its param_table name ("encoder.0.weight", …, F32);
//             "optimizer.exp_avg.<name>" and "optimizer.exp_avg_sq.<name>" (Adam's m and v, F32);
//             "optimizer.step" (I64 scalar);
//             "data.offset", "data.factor" (F32, D) when the data were scaled (Scaler)
//             "data.min", "data.max" (F32, D): the training rows' range in data units
//   metadata  "format" = "vae.cpp", "format_version" = "1",
//             "model" (ModelConfig JSON), "train_options" (TrainOptions JSON),
//             "train_state" (TrainState JSON; the RNG words as hex strings),
//             "data_scaling" ({"kind", "clamp01"}: how x was mapped before training),
//             "selected_on" ("val" or "test": the split best.safetensors was chosen on),
//             "data_fingerprint" ({"data": DataFingerprint, "test_data": DataFingerprint}, each
//             present when known)
// Keys and tensors added after version 1 first shipped are optional: older files read with the
// range and fingerprints unknown, and selected_on from their options (val_split 0: "test").
//             "class_names" (a JSON array of strings, label y → its name; only when the
//             training data named their classes: image subfolders, CSV names, Fashion-MNIST)
//             "imported_from" (the weights file `vae import` read; only in imported checkpoints,
//             which hold no training run: no "train_options", "train_state" or optimiser
//             state; they read as the default options with no data and the zero state)
// Python reads it with safetensors.numpy.load_file / safe_open(...).metadata().
// Written to a temporary file and renamed into place: a crash never leaves half a checkpoint.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "vae/data_pipeline.h"
#include "vae/model.h"
#include "vae/rng.h"
#include "vae/train_options.h"

namespace vae {

inline constexpr const char* kCheckpointFormat = "vae.cpp";
inline constexpr int kCheckpointVersion = 1;

/// Where a run stands after its last completed epoch.
struct TrainState {
  int64_t epoch = 0;  ///< epochs completed
  int64_t step = 0;   ///< optimiser steps taken
  double best_test_loss = std::numeric_limits<double>::infinity();
  int64_t best_epoch = 0;
  Rng::State rng{};   ///< the training RNG after the last completed epoch
  /// The Adam learning rate in use after the last completed epoch: TrainOptions::lr halved once
  /// per recovery from a non-finite step, so a resumed run goes on with the lowered rate.
  /// 0 = TrainOptions::lr (checkpoints written before recoveries existed have no "lr" key).
  double lr = 0;
  int64_t recoveries = 0;  ///< recoveries from non-finite steps so far in the run
  /// The plateau learning-rate schedule's state (LrSchedule): the reductions so far and the
  /// epoch of the latest (0: none). Written only when non-zero; absent reads as 0.
  int64_t lr_reductions = 0;
  int64_t last_reduction_epoch = 0;

  /// The learning rate to train with: lr, or `options_lr` when lr is 0.
  double lr_or(double options_lr) const { return lr > 0 ? lr : options_lr; }

  std::string to_json() const;
  static TrainState from_json(const std::string& text, const std::string& origin);
};

struct Checkpoint {
  ModelConfig model;
  TrainOptions train;
  TrainState state;
  std::vector<float> params;          ///< (P) flat, param_table(model) layout
  std::vector<float> adam_m, adam_v;  ///< (P) each, or empty for a weights-only checkpoint
  int64_t adam_step = 0;
  Scaler scaler;                      ///< the data transform of the run (identity = none)
  std::string selected_on;            ///< "val" or "test": where the best model was chosen
  SourceFingerprints data_prints;     ///< the run's sources as read (unknown in older files)
  std::vector<std::string> class_names;  ///< the training data's class names, or empty
  /// The weights file the checkpoint was imported from (vae import), or empty for a training
  /// run's checkpoint.
  std::string imported_from;
};

/// Writes atomically. Asserts params (and moments, when present) have param_count(model) values.
void save_checkpoint(const std::string& path, const Checkpoint& ckpt);
/// Reads and validates (format, version, configs, every tensor's presence, dtype and shape).
/// Throws vae::Error "<path>: <what>" for anything amiss.
Checkpoint load_checkpoint(const std::string& path);

/// Loads a checkpoint's weights into a float model sized for batches of `max_batch`. Throws
/// vae::FieldError("max_batch", ...) for max_batch < 1, vae::Error when the weights do not fit
/// the model (a Checkpoint assembled by hand).
Vae<float> model_from_checkpoint(const Checkpoint& ckpt, int max_batch);

}  // namespace vae
