// Minibatches: a shuffled pass over a Dataset, gathered row by row into one caller-owned batch
// buffer (no copies per step beyond the batch), with optional dynamic binarisation.
//
// Legend: N examples, D values per example, B batch rows.
#pragma once

#include <cstdint>
#include <vector>

#include "vae/dataset.h"
#include "vae/rng.h"

namespace vae {

/// Fixed seed for binarising a test set once, so test numbers of runs with different seeds are
/// computed on the same binary images.
inline constexpr uint64_t kTestBinarizeSeed = 0x5eed7e57ull;

/// Returns a copy of `data` with every value replaced by a Bernoulli(value) draw (0 or 1).
Dataset binarize(const Dataset& data, uint64_t seed);

class Batcher {
 public:
  /// dynamic_binarize: every value x is replaced by 1[u < x], u ~ U[0,1), freshly drawn each
  /// time a row is served — so each epoch sees a new binarisation of the training set.
  Batcher(const Dataset& data, int batch_size, bool dynamic_binarize);

  /// Shuffles 0..N-1 (Fisher–Yates with `rng`, from the identity each time, so the order depends
  /// only on the RNG state) and rewinds.
  void start_epoch(Rng& rng);
  /// Fills x (B, D) with the next batch and returns B (the last batch of an epoch may be
  /// short), or 0 when the epoch is over. Draws binarisation noise from `rng` when dynamic.
  /// With labels non-null (the data must have labels), fills labels (B) too.
  int next(Rng& rng, float* x, int32_t* labels = nullptr);
  size_t batches_per_epoch() const;

 private:
  const Dataset& data_;
  int batch_size_;
  bool dynamic_;
  std::vector<uint32_t> order_;  // (N) permutation
  size_t pos_ = 0;
};

}  // namespace vae
