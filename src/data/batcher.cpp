#include "data/batcher.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "vae/error.h"

namespace vae {

Dataset binarize(const Dataset& data, uint64_t seed) {
  Rng rng(seed);
  Dataset out = data;
  for (float& v : out.x) v = rng.uniform_float() < v ? 1.0f : 0.0f;
  return out;
}

Batcher::Batcher(const Dataset& data, int batch_size, bool dynamic_binarize)
    : data_(data), batch_size_(batch_size), dynamic_(dynamic_binarize), order_(data.n) {
  VAE_ASSERT(batch_size >= 1);
  std::iota(order_.begin(), order_.end(), 0u);
  pos_ = order_.size();
}

void Batcher::start_epoch(Rng& rng) {
  // Shuffle from the identity, not from the previous epoch's order: an epoch's order must depend
  // on the RNG state alone, which is all a checkpoint saves, so that a resumed run sees the same
  // batches as one that never stopped.
  std::iota(order_.begin(), order_.end(), 0u);
  for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng.below(i)]);
  pos_ = 0;
}

int Batcher::next(Rng& rng, float* x, int32_t* labels) {
  const size_t B = std::min<size_t>(batch_size_, order_.size() - pos_);
  const size_t D = data_.d;
  for (size_t r = 0; r < B; ++r) {
    const float* src = data_.row(order_[pos_ + r]);
    float* dst = x + r * D;
    if (dynamic_) {
      for (size_t j = 0; j < D; ++j) dst[j] = rng.uniform_float() < src[j] ? 1.0f : 0.0f;
    } else {
      std::memcpy(dst, src, sizeof(float) * D);
    }
  }
  if (labels) {
    VAE_ASSERT(data_.labels.size() == data_.n);
    for (size_t r = 0; r < B; ++r) labels[r] = data_.labels[order_[pos_ + r]];
  }
  pos_ += B;
  return static_cast<int>(B);
}

size_t Batcher::batches_per_epoch() const {
  return (order_.size() + batch_size_ - 1) / batch_size_;
}

}  // namespace vae
