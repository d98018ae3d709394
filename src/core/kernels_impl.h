// The loops of core/kernels.h, included once by each kernels_<isa>.cpp inside its own
// namespace and compiled with that file's instruction set. Plain loops that the compiler
// vectorises for the target; no library calls (see kernels.h). No include guard: by design.

// exp_nonpositive, log1p_unit, softplus, sigmoid in float: this namespace's own copy.
#include "core/fastmath_impl.h"
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

// ---- Likelihoods (model/losses.h) ----------------------------------------------------------

// Σ_j f(a_j, b_j) in kLanes float partial sums (lane j takes elements ≡ j mod kLanes), folded
// pairwise in a fixed order, then the tail: the same operations for every vector width.
template <class F>
inline float lane_sum(const float* a, const float* b, size_t n, F f) {
  constexpr size_t kLanes = 16;
  float acc[kLanes] = {};
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (size_t j = 0; j < kLanes; ++j) acc[j] += f(a[i + j], b[i + j]);
  for (size_t w = kLanes / 2; w > 0; w /= 2)
    for (size_t j = 0; j < w; ++j) acc[j] += acc[j + w];
  float tail = 0;
  for (; i < n; ++i) tail += f(a[i], b[i]);
  return acc[0] + tail;
}

//   −log p(x|l) = softplus(l) − x·l
float bernoulli_nll_row(const float* logits, const float* x, size_t n) {
  return lane_sum(logits, x, n, [](float l, float xj) { return softplus(l) - xj * l; });
}

//   ∂/∂l = σ(l) − x
void bernoulli_nll_backward(float* dlogits, const float* logits, const float* x, float scale,
                            size_t n) {
  for (size_t i = 0; i < n; ++i) dlogits[i] += scale * (sigmoid(logits[i]) - x[i]);
}

void sigmoid(float* y, const float* l, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = sigmoid(l[i]);
}

float squared_error_row(const float* mean, const float* x, size_t n) {
  return lane_sum(mean, x, n, [](float m, float xj) { return (xj - m) * (xj - m); });
}

//   ∂/∂m ½ ((x − m)/σ)² = (m − x)/σ²
void squared_error_backward(float* dmean, const float* mean, const float* x, float k, size_t n) {
  for (size_t i = 0; i < n; ++i) dmean[i] += k * (mean[i] - x[i]);
}
