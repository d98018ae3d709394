// Elementwise activations and their derivatives (formulas in include/vae/nn.h).
#include <cmath>
#include <type_traits>

#include "core/kernels.h"

#include "vae/error.h"
#include "vae/nn.h"

namespace vae {

Activation parse_activation(const std::string& name) {
  if (name == "relu") return Activation::Relu;
  if (name == "tanh") return Activation::Tanh;
  if (name == "leaky_relu") return Activation::LeakyRelu;
  if (name == "elu") return Activation::Elu;
  throw FieldError("activation",
                   "unknown activation '" + name + "' (choose relu, tanh, leaky_relu, elu)");
}

const char* activation_name(Activation act) {
  switch (act) {
    case Activation::Relu: return "relu";
    case Activation::Tanh: return "tanh";
    case Activation::LeakyRelu: return "leaky_relu";
    case Activation::Elu: return "elu";
  }
  return "?";
}

template <class T>
void activation_forward(T* y, const T* a, size_t n, Activation act) {
  if constexpr (std::is_same_v<T, float>) {
    if (act == Activation::Relu) return kernels::best().relu_forward(y, a, n);  // per-ISA loop
  }
  const T slope = static_cast<T>(kLeakyReluSlope);
  switch (act) {
    case Activation::Relu:
      for (size_t i = 0; i < n; ++i) y[i] = a[i] > T(0) ? a[i] : T(0);
      break;
    case Activation::Tanh:
      for (size_t i = 0; i < n; ++i) y[i] = std::tanh(a[i]);
      break;
    case Activation::LeakyRelu:
      for (size_t i = 0; i < n; ++i) y[i] = a[i] > T(0) ? a[i] : slope * a[i];
      break;
    case Activation::Elu:
      for (size_t i = 0; i < n; ++i) y[i] = a[i] > T(0) ? a[i] : std::expm1(a[i]);
      break;
  }
}

template <class T>
void activation_backward(T* da, const T* dy, const T* a, const T* y, size_t n, Activation act) {
  if constexpr (std::is_same_v<T, float>) {
    if (act == Activation::Relu) return kernels::best().relu_backward(da, dy, a, n);
  }
  const T slope = static_cast<T>(kLeakyReluSlope);
  switch (act) {
    case Activation::Relu:
      for (size_t i = 0; i < n; ++i) da[i] += a[i] > T(0) ? dy[i] : T(0);
      break;
    case Activation::Tanh:  // f' = 1 − tanh²
      for (size_t i = 0; i < n; ++i) da[i] += dy[i] * (T(1) - y[i] * y[i]);
      break;
    case Activation::LeakyRelu:
      for (size_t i = 0; i < n; ++i) da[i] += a[i] > T(0) ? dy[i] : slope * dy[i];
      break;
    case Activation::Elu:  // for a ≤ 0, f' = eᵃ = f(a) + 1
      for (size_t i = 0; i < n; ++i) da[i] += a[i] > T(0) ? dy[i] : dy[i] * (y[i] + T(1));
      break;
  }
}

template void activation_forward<float>(float*, const float*, size_t, Activation);
template void activation_forward<double>(double*, const double*, size_t, Activation);
template void activation_backward<float>(float*, const float*, const float*, const float*, size_t, Activation);
template void activation_backward<double>(double*, const double*, const double*, const double*, size_t, Activation);

}  // namespace vae
