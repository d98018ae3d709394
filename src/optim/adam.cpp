// Adam, PyTorch's formulation (see include/vae/optim.h).
#include <algorithm>
#include <cmath>

#include "vae/optim.h"

namespace vae {

template <class T>
void Adam<T>::begin_step() {
  ++t_;
  const double bc1 = 1.0 - std::pow(cfg_.beta1, static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(cfg_.beta2, static_cast<double>(t_));
  step_size_ = static_cast<T>(cfg_.lr / bc1);
  inv_sqrt_bc2_ = static_cast<T>(1.0 / std::sqrt(bc2));
}

template <class T>
void Adam<T>::update(T* params, const T* grads, size_t lo, size_t hi, T grad_scale) {
  const T b1 = static_cast<T>(cfg_.beta1), b2 = static_cast<T>(cfg_.beta2);
  const T eps = static_cast<T>(cfg_.eps);
  const T step_size = step_size_, inv_sqrt_bc2 = inv_sqrt_bc2_;
  T* m = m_.data();
  T* v = v_.data();
  for (size_t i = lo; i < hi; ++i) {
    const T g = grads[i] * grad_scale;  // exact when grad_scale = 1
    m[i] = b1 * m[i] + (T(1) - b1) * g;
    v[i] = b2 * v[i] + (T(1) - b2) * g * g;
    params[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
  }
}

template <class T>
double Adam<T>::update_reduced(T* params, T* const* grads, const T* weights, int parts,
                               size_t lo, size_t hi, bool zero_grads) {
  const T b1 = static_cast<T>(cfg_.beta1), b2 = static_cast<T>(cfg_.beta2);
  const T eps = static_cast<T>(cfg_.eps);
  const T step_size = step_size_, inv_sqrt_bc2 = inv_sqrt_bc2_;
  T* m = m_.data();
  T* v = v_.data();
  // Blocks of 32: the reduced gradient of the block, its squares into 32 double partial sums
  // (vectorised, fixed order), then Adam on the block.
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
    for (size_t j = 0; j < len; ++j) {
      const size_t i = i0 + j;
      m[i] = b1 * m[i] + (T(1) - b1) * g[j];
      v[i] = b2 * v[i] + (T(1) - b2) * g[j] * g[j];
      params[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
    }
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
