// The loops of core/kernels.h, included once by each kernels_<isa>.cpp inside its own
// namespace and compiled with that file's instruction set. Plain loops that the compiler
// vectorises for the target; no library calls (see kernels.h). No include guard: by design.
//
// Adam (optim/adam.h): m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², θ ← θ·d − lr_t·m / (√v·c + ε),
// lr_t = lr/(1−β₁ᵗ), c = 1/√(1−β₂ᵗ), d = 1 − lr·λ (AdamW; 1 without weight decay).

inline void adam_block(const AdamStep& s, float* p, float* m, float* v, const float* g,
                       size_t len) {
  for (size_t j = 0; j < len; ++j) {
    m[j] = s.b1 * m[j] + (1.0f - s.b1) * g[j];
    v[j] = s.b2 * v[j] + (1.0f - s.b2) * g[j] * g[j];
    p[j] = p[j] * s.decay - s.step_size * m[j] / (__builtin_sqrtf(v[j]) * s.inv_sqrt_bc2 + s.eps);
  }
}

// Blocks of 32: the reduced gradient of the block, its squares into 32 double partial sums,
// then Adam on the block (one pass over memory).
double adam_reduced(const AdamStep& s, float* params, float* m, float* v, float* const* grads,
                    const float* weights, int parts, size_t lo, size_t hi, bool zero_grads) {
  constexpr size_t kBlock = 32;
  double acc[kBlock] = {};
  float g[kBlock];
  for (size_t i0 = lo; i0 < hi; i0 += kBlock) {
    const size_t len = hi - i0 < kBlock ? hi - i0 : kBlock;
    for (size_t j = 0; j < len; ++j) g[j] = weights[0] * grads[0][i0 + j];
    for (int q = 1; q < parts; ++q)
      for (size_t j = 0; j < len; ++j) g[j] += weights[q] * grads[q][i0 + j];
    if (zero_grads)
      for (int q = 0; q < parts; ++q)
        for (size_t j = 0; j < len; ++j) grads[q][i0 + j] = 0.0f;
    for (size_t j = 0; j < len; ++j) acc[j] += static_cast<double>(g[j]) * g[j];
    adam_block(s, params + i0, m + i0, v + i0, g, len);
  }
  double sq = 0;
  for (size_t j = 0; j < kBlock; ++j) sq += acc[j];
  return sq;
}

double sum_squares(const float* g, size_t n) {
  constexpr size_t kLanes = 32;
  double acc[kLanes] = {};
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (size_t j = 0; j < kLanes; ++j) acc[j] += static_cast<double>(g[i + j]) * g[i + j];
  double sq = 0;
  for (; i < n; ++i) sq += static_cast<double>(g[i]) * g[i];
  for (size_t j = 0; j < kLanes; ++j) sq += acc[j];
  return sq;
}

void relu_forward(float* y, const float* a, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = a[i] > 0.0f ? a[i] : 0.0f;
}

void relu_backward(float* da, const float* dy, const float* a, size_t n) {
  for (size_t i = 0; i < n; ++i) da[i] += a[i] > 0.0f ? dy[i] : 0.0f;
}
