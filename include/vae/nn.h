// Layers: each is a forward/backward pair of plain functions over caller-owned buffers.
//
// Legend: B batch rows, I input features, O output features, n element count.
//
// The gradient rule, for every backward in the library:
//   backward ACCUMULATES (+=) into every gradient buffer it is given, parameter gradients and
//   input gradients alike. The caller zeroes all gradient buffers once per step (Vae::zero_grad
//   is two memsets). A tensor used in two places, such as μ and log σ² (reconstruction and KL),
//   therefore gets the sum of both gradients by construction.
// Inputs are const; nothing here allocates.
#pragma once

#include <cstddef>
#include <string>

namespace vae {

// ---- Linear: y = x Wᵀ + b (PyTorch's nn.Linear layout) ------------------------------------
//   x (B, I), W (O, I), b (O), y (B, O)
// forward assigns y.
template <class T>
void linear_forward(T* y, const T* x, const T* w, const T* b, int B, int I, int O);
// With y = x Wᵀ + b:   dx += dy W,   dW += dyᵀ x,   db += Σ_rows dy.
// dx may be nullptr (the first layer needs no input gradient).
template <class T>
void linear_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int B, int I,
                     int O);

// ---- Elementwise activations y = f(a) -----------------------------------------------------
enum class Activation { Relu, Tanh, LeakyRelu, Elu };
/// "relu", "tanh", "leaky_relu", "elu"; throws FieldError("activation", ...) for anything else.
Activation parse_activation(const std::string& name);
const char* activation_name(Activation act);

//   relu        f(a) = max(a, 0)                     f'(a) = [a > 0]
//   tanh        f(a) = tanh a                        f'(a) = 1 − f(a)²
//   leaky_relu  f(a) = a if a > 0 else 0.01 a        f'(a) = 1 if a > 0 else 0.01
//   elu         f(a) = a if a > 0 else eᵃ − 1        f'(a) = 1 if a > 0 else f(a) + 1
// At the kink a = 0 the derivative taken is the left one (0 for relu).
inline constexpr double kLeakyReluSlope = 0.01;

/// y[i] = f(a[i]) for i < n. y may alias a.
template <class T>
void activation_forward(T* y, const T* a, size_t n, Activation act);
/// da[i] += dy[i] · f'(a[i]); `a` is the pre-activation, `y` = f(a) (both from forward).
template <class T>
void activation_backward(T* da, const T* dy, const T* a, const T* y, size_t n, Activation act);

}  // namespace vae
