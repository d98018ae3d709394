// Adam, PyTorch's formulation (see include/vae/optim.h).
#include <cmath>

#include "vae/optim.h"

namespace vae {

template <class T>
void Adam<T>::step(T* params, const T* grads) {
  ++t_;
  const double bc1 = 1.0 - std::pow(cfg_.beta1, static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(cfg_.beta2, static_cast<double>(t_));
  const T step_size = static_cast<T>(cfg_.lr / bc1);
  const T inv_sqrt_bc2 = static_cast<T>(1.0 / std::sqrt(bc2));
  const T b1 = static_cast<T>(cfg_.beta1), b2 = static_cast<T>(cfg_.beta2);
  const T eps = static_cast<T>(cfg_.eps);
  T* m = m_.data();
  T* v = v_.data();
  const size_t n = m_.size();
  for (size_t i = 0; i < n; ++i) {
    const T g = grads[i];
    m[i] = b1 * m[i] + (T(1) - b1) * g;
    v[i] = b2 * v[i] + (T(1) - b2) * g * g;
    params[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
  }
}

template <class T>
double clip_grad_norm(T* grads, size_t n, double max_norm) {
  double sq = 0;
  for (size_t i = 0; i < n; ++i) sq += static_cast<double>(grads[i]) * grads[i];
  const double norm = std::sqrt(sq);
  if (std::isfinite(norm) && norm > max_norm) {
    const T factor = static_cast<T>(max_norm / norm);
    for (size_t i = 0; i < n; ++i) grads[i] *= factor;
  }
  return norm;
}

template class Adam<float>;
template class Adam<double>;
template double clip_grad_norm<float>(float*, size_t, double);
template double clip_grad_norm<double>(double*, size_t, double);

}  // namespace vae
