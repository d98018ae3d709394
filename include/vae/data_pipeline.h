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
//
// Validation rows (model selection, early stopping) always come from the training rows, never
// from the test set:
//   val_split -1 (default)  a source with its own test files (Fashion-MNIST, MNIST folders): the
//                           last sixth of its training rows, in file order — the literature's
//                           last 10,000 of Fashion-MNIST's 60,000; any other source: 10%
//                           (kDefaultValFraction) of the training rows at random. At least one
//                           row when there are two or more; a single training row is refused.
//   val_split F in (0, 1)   round(F · n) of the n training rows at random
//   val_split 0             no validation rows: the model is selected on the test set (the
//                           checkpoint and report then say so)
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

/// The default validation fraction of sources without their own test files.
inline constexpr double kDefaultValFraction = 0.1;

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
  double val_split = -1;               ///< fraction of the training rows held out as
                                       ///< validation; -1 = default, 0 = none (rule above)
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
  /// (D) each: the smallest and largest value of each column over the training rows, in data
  /// units (before the transform). Images scaled to [0, 1]: the pixel format's range (0..255,
  /// or 0..1); other images: the range over all pixels, in every column. Empty when unknown
  /// (checkpoints written before the range was kept).
  std::vector<float> lo, hi;
  bool identity() const { return offset.empty(); }
  /// How many of the n rows' values (data units, D per row) lie outside [lo, hi] per row:
  /// (n) counts, or empty when the range is unknown.
  std::vector<uint32_t> out_of_range(const float* rows, size_t n, size_t D) const;
  void apply(Dataset& data) const;
  /// x = y / factor + offset, for n rows of D values in place (decoded outputs to data units).
  void invert(float* rows, size_t n) const;
};

/// What identifies a source's rows as read (before splitting and scaling): their count, the shape
/// of one example and a hash of the values and labels. A checkpoint keeps the fingerprints of
/// its run's sources, so a later command that re-creates the run's splits can tell when the
/// file changed (the "test" rows would no longer be the run's test rows).
struct DataFingerprint {
  uint64_t rows = 0;
  std::vector<int64_t> shape;  ///< one example: {D}, or {H, W, C} for images; empty = unknown
  uint64_t hash = 0;           ///< FNV-1a 64 over the values' float bytes, then the labels' bytes
  bool known() const { return !shape.empty(); }
  bool operator==(const DataFingerprint& o) const {
    return rows == o.rows && shape == o.shape && hash == o.hash;
  }
  bool operator!=(const DataFingerprint& o) const { return !(*this == o); }
  /// "20 rows of 3 values, hash 89ab…" / "60000 rows of 28x28x1 values, hash …".
  std::string describe() const;
  std::string to_json() const;  ///< {"rows": N, "shape": [...], "hash": "16 hex digits"}
  /// Throws vae::Error naming `origin` for a malformed object.
  static DataFingerprint from_json(const std::string& text, const std::string& origin);
};

/// The fingerprint of `data` (one pass over its bytes).
DataFingerprint fingerprint(const Dataset& data);

/// The fingerprints of a run's sources: its --data (an MNIST folder's training files) and its
/// test source (--test-data, or an MNIST folder's test files; unknown when the test rows are
/// split off --data).
struct SourceFingerprints {
  DataFingerprint data, test_data;
};

/// The spec with its path made absolute and normal (std::filesystem::weakly_canonical), so that
/// "./data/x.csv", "data/x.csv" and the same file named from another folder compare equal;
/// "fashion-mnist" and "" stay as they are.
std::string canonical_source(const std::string& spec);

/// Reads one source (no splitting, no scaling) with the CSV options of `opts` (label column,
/// delimiter, header): the train part of an MNIST folder when `which` is "train", its test part
/// for "test"; the whole file or folder otherwise. Class names come with the data
/// (Dataset::class_names) where the source has them.
Dataset read_source(const std::string& spec, const DataOptions& opts, const std::string& which);

/// Numbers the labels of `d` (read from `source`) as `classes` does, the class names of the data a
/// model was trained on: where d names its own classes (a CSV column of names, an image folder's
/// subfolders, each numbered in sorted name order within its own source), each label y becomes
/// the index of d.class_names[y] in `classes`, and d.class_names becomes `classes`. Data without
/// names, or an empty `classes`, are left as they are. Throws vae::Error
/// "<source>: class 'x' is not one of the training data's classes (a, b, c)".
void renumber_classes(Dataset& d, const std::vector<std::string>& classes,
                      const std::string& source);

/// True for "fashion-mnist" and folders holding MNIST-named IDX files (which carry their own
/// test split).
bool is_mnist_source(const std::string& spec);

/// Loads, splits and scales. `likelihood` picks the auto scaling of tables. When `fitted` is
/// non-null, that scaler is applied instead of fitting a new one (re-creating a trained run's
/// data); otherwise the fitted scaler is returned in *out_scaler.
/// Throws vae::FieldError for options out of range, vae::Error naming the file for bad data.
/// With `prints` non-null, also fingerprints the sources as read (SourceFingerprints).
DataSplits load_splits(const DataOptions& opts, uint64_t seed, Likelihood likelihood,
                       const Scaler* fitted, Scaler* out_scaler,
                       SourceFingerprints* prints = nullptr);

/// Checks, before any training step, that the splits of `opts` leave rows for every part of a
/// run: the training rows, the test rows (a run is scored on them), and validation rows when
/// val_split asks for some. Throws vae::FieldError("test_split" | "val_split", ...) when a
/// fraction keeps none, vae::Error naming the file when a source holds none.
void check_splits_for_training(const DataSplits& splits, const DataOptions& opts);

/// Checks that every row of `data` has a label in 0..classes−1 (a conditional model's classes).
/// Throws vae::Error naming `what` and the first label outside.
void check_labels_for(const Dataset& data, int classes, const std::string& what);

/// Checks values a likelihood can take: Bernoulli needs [0, 1]. Throws vae::Error naming
/// `what` and the first offending row and column.
void check_range_for(const Dataset& data, Likelihood likelihood, const std::string& what);

}  // namespace vae
