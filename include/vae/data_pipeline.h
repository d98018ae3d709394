// From a data spec (DataOptions::data) to scaled train / validation / test splits, the same way
// at training time and afterwards (eval, score, encode … re-create a run's splits from its
// checkpoint).
//
//   spec                          reader                     test set
//   "fashion-mnist", MNIST folder load_data (IDX files)        its t10k files
//   folder of images              read_image_folder          test_data, or test_split F
//   *.csv                         read_csv (label_column)    test_data, or test_split F
//   *.npy                         read_npy_dataset           test_data, or test_split F
// With limit N > 0 only the first N examples of each source read are kept (the MNIST train and
// test files each, --data and --test-data each), before any split: a quick smoke test of a run.
// For sources without their own test files the default is test_split 0.1. Splits draw a
// permutation from Rng(seed ^ kSplitSalt): the same run seed gives the same rows every time.
// val_split F then moves a fraction F of the (remaining) training rows to validation.
//
// Scaling (DataOptions::scale) maps raw values x to y = (x − offset) ⊙ factor, per column (D):
//   none         offset 0, factor 1
//   01           images: offset 0, factor 1/255 for 8-bit sources (IDX images arrive in [0,1]
//                already); tables: per-column min–max of the training rows, and values of other
//                rows are clamped to [0, 1]
//   standardize  per-column mean and standard deviation of the training rows (a constant
//                column gets factor 1)
//   auto         images → 01; tables → 01 for the Bernoulli likelihood, standardize for Gaussian
// The offset and factor are saved in the checkpoint, so new data get the training transform.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vae/dataset.h"
#include "vae/likelihood.h"
#include "vae/readers.h"

namespace vae {

/// The scaling a run asks for (the table above); Auto picks one of the others per source.
enum class Scale { Auto, ZeroOne, Standardize, None };
const char* scale_name(Scale scale);  ///< "auto", "01", "standardize", "none"
/// Throws FieldError("scale", ...) for any other text.
Scale parse_scale(const std::string& text);

/// The rule a fitted Scaler applies (Scale with Auto resolved).
enum class ScalerKind { None, ZeroOne, Standardize };
const char* scaler_kind_name(ScalerKind kind);  ///< "none", "01", "standardize"
/// Throws FieldError("kind", ...) for any other text.
ScalerKind parse_scaler_kind(const std::string& text);

struct DataOptions {
  std::string data = "fashion-mnist";  ///< the source spec (table above)
  std::string test_data;               ///< a separate test source, or empty
  double test_split = -1;              ///< fraction held out as the test set; -1 = default
                                       ///< (0.1 for sources without test files)
  double val_split = 0;                ///< fraction of the training rows held out as validation
  std::string label_column;            ///< CSV: the column of labels (numbers or names), or empty
  char delimiter = 0;                  ///< CSV: the field delimiter (CsvOptions), 0 = sniffed
  CsvHeader header = CsvHeader::Auto;  ///< CSV: whether the first line is a header
  Scale scale = Scale::Auto;
  int limit = 0;                       ///< keep the first N examples of each source read; 0 = all

  /// Throws vae::FieldError naming the first field out of range ("val_split", ...).
  void validate() const;
};

/// The transform y = (x − offset) ⊙ factor, with the rule that produced it.
struct Scaler {
  ScalerKind kind = ScalerKind::None;
  bool clamp01 = false;        ///< clamp results to [0, 1] (table min–max scaling)
  std::vector<float> offset;   ///< (D), or empty for the identity
  std::vector<float> factor;   ///< (D), or empty for the identity
  bool identity() const { return offset.empty(); }
  void apply(Dataset& data) const;
  /// x = y / factor + offset, for n rows of D values in place (decoded outputs to data units).
  void invert(float* rows, size_t n) const;
};

/// Reads one source (no splitting, no scaling) with the CSV options of `opts` (label column,
/// delimiter, header): the train part of an MNIST folder when `which` is "train", its test part
/// for "test"; the whole file or folder otherwise. Class names come with the data
/// (Dataset::class_names) where the source has them.
Dataset read_source(const std::string& spec, const DataOptions& opts, const std::string& which);

/// True for "fashion-mnist" and folders holding MNIST-named IDX files (which carry their own
/// test split).
bool is_mnist_source(const std::string& spec);

/// Loads, splits and scales. `likelihood` picks the auto scaling of tables. When `fitted` is
/// non-null, that scaler is applied instead of fitting a new one (re-creating a trained run's
/// data); otherwise the fitted scaler is returned in *out_scaler.
/// Throws vae::FieldError for options out of range, vae::Error naming the file for bad data.
DataSplits load_splits(const DataOptions& opts, uint64_t seed, Likelihood likelihood,
                       const Scaler* fitted, Scaler* out_scaler);

/// Checks, before any training step, that the splits of `opts` leave rows for every part of a
/// run: the training rows, the test rows (a run is scored on them), and validation rows when
/// val_split asks for some. Throws vae::FieldError("test_split" | "val_split", ...) when a
/// fraction keeps none, vae::Error naming the file when a source holds none.
void check_splits_for_training(const DataSplits& splits, const DataOptions& opts);

/// Checks values a likelihood can take: Bernoulli needs [0, 1]. Throws vae::Error naming
/// `what` and the first offending row and column.
void check_range_for(const Dataset& data, Likelihood likelihood, const std::string& what);

}  // namespace vae
