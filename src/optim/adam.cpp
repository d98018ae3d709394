// Adam, PyTorch's formulation (see src/optim/adam.h).
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "optim/adam.h"

#include "core/kernels.h"

namespace vae {

template <class T>
void Adam<T>::begin_step() {
  ++t_;
  const double bc1 = 1.0 - std::pow(cfg_.beta1, static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(cfg_.beta2, static_cast<double>(t_));
  step_size_ = static_cast<T>(cfg_.lr / bc1);
  inv_sqrt_bc2_ = static_cast<T>(1.0 / std::sqrt(bc2));
  decay_ = static_cast<T>(1.0 - cfg_.lr * cfg_.weight_decay);
}

namespace {

// The update of one element, the formula of src/optim/adam.h, for the current step t.
template <class T>
struct AdamRule {
  T b1, b2, eps, step_size, inv_sqrt_bc2;  // β₁, β₂, ε, lr / (1 − β₁ᵗ), 1 / √(1 − β₂ᵗ)
  T decay;                                 // 1 − lr·λ (AdamW), 1 without weight decay
  void operator()(T& param, T& m, T& v, T g) const {
    m = b1 * m + (T(1) - b1) * g;
    v = b2 * v + (T(1) - b2) * g * g;
    param = param * decay - step_size * m / (std::sqrt(v) * inv_sqrt_bc2 + eps);
  }
};

}  // namespace

template <class T>
void Adam<T>::update(T* params, const T* grads, size_t lo, size_t hi, T grad_scale) {
  const AdamRule<T> rule{static_cast<T>(cfg_.beta1), static_cast<T>(cfg_.beta2),
                         static_cast<T>(cfg_.eps), step_size_, inv_sqrt_bc2_, decay_};
  T* m = m_.data();
  T* v = v_.data();
  for (size_t i = lo; i < hi; ++i)
    rule(params[i], m[i], v[i], grads[i] * grad_scale);  // exact when grad_scale = 1
}

template <class T>
double Adam<T>::update_reduced(T* params, T* const* grads, const T* weights, int parts,
                               size_t lo, size_t hi, bool zero_grads) {
  if constexpr (std::is_same_v<T, float>) {
    // Float: the same loop compiled per instruction set, chosen at run time (core/kernels.h).
    const kernels::AdamStep s{static_cast<float>(cfg_.beta1), static_cast<float>(cfg_.beta2),
                              static_cast<float>(cfg_.eps), step_size_, inv_sqrt_bc2_, decay_};
    return kernels::best().adam_reduced(s, params, m_.data(), v_.data(), grads, weights, parts,
                                        lo, hi, zero_grads);
  }
  const AdamRule<T> rule{static_cast<T>(cfg_.beta1), static_cast<T>(cfg_.beta2),
                         static_cast<T>(cfg_.eps), step_size_, inv_sqrt_bc2_, decay_};
  // Blocks of 32: the reduced gradient of the block, its squares into 32 double partial sums
  // (vectorised, fixed order), then Adam on the block.
  T* m = m_.data();
  T* v = v_.data();
  constexpr size_t kBlock = 32;
  double acc[kBlock] = {};
  T g[kBlock];
  for (size_t i0 = lo; i0 < hi; i0 += kBlock) {
    const size_t len = std::min(kBlock, hi - i0);
    for (size_t j = 0; j < len; ++j) g[j] = weights[0] * grads[0][i0 + j];
    for (int p = 1; p < parts; ++p)
      for (size_t j = 0; j < len; ++j) g[j] += weights[p] * grads[p][i0 + j];
    if (zero_grads)
      for (int p = 0; p < parts; ++p) std::fill(grads[p] + i0, grads[p] + i0 + len, T(0));
    for (size_t j = 0; j < len; ++j) acc[j] += static_cast<double>(g[j]) * g[j];
    for (size_t j = 0; j < len; ++j) rule(params[i0 + j], m[i0 + j], v[i0 + j], g[j]);
  }
  double sq = 0;
  for (size_t j = 0; j < kBlock; ++j) sq += acc[j];
  return sq;
}

template <class T>
void Adam<T>::step(T* params, const T* grads) {
  begin_step();
  update(params, grads, 0, m_.size());
}

template <class T>
double sum_squares(const T* g, size_t n) {
  if constexpr (std::is_same_v<T, float>) return kernels::best().sum_squares(g, n);
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

template <class T>
double clip_grad_norm(T* grads, size_t n, double max_norm) {
  const double norm = std::sqrt(sum_squares(grads, n));
  if (std::isfinite(norm) && norm > max_norm) {
    const T factor = static_cast<T>(max_norm / norm);
    for (size_t i = 0; i < n; ++i) grads[i] *= factor;
  }
  return norm;
}

template class Adam<float>;
template class Adam<double>;
template double sum_squares<float>(const float*, size_t);
template double sum_squares<double>(const double*, size_t);
template double clip_grad_norm<float>(float*, size_t, double);
template double clip_grad_norm<double>(double*, size_t, double);

}  // namespace vae
