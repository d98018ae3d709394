// Linear layer. Legend: B batch, I inputs, O outputs.
#include "core/blas.h"
#include "vae/nn.h"

namespace vae {

template <class T>
void linear_forward(T* y, const T* x, const T* w, const T* b, int B, int I, int O) {
  // y (B,O) = x (B,I) · Wᵀ (I,O) + b broadcast over rows (core/blas.h: gemm_bias).
  gemm_bias<T>(B, O, I, x, w, b, y);
}

template <class T>
void linear_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int B, int I,
                     int O) {
  // In forward y[r,o] = Σ_i x[r,i] W[o,i] + b[o], so
  //   ∂L/∂W[o,i] = Σ_r dy[r,o] x[r,i]   →  dW (O,I) += dyᵀ (O,B) · x (B,I)
  //   ∂L/∂b[o]   = Σ_r dy[r,o]
  //   ∂L/∂x[r,i] = Σ_o dy[r,o] W[o,i]   →  dx (B,I) += dy (B,O) · W (O,I)
  gemm<T>(true, false, O, I, B, T(1), dy, O, x, I, T(1), dw, I);
  for (int r = 0; r < B; ++r) {
    const T* dyr = dy + static_cast<size_t>(r) * O;
    for (int o = 0; o < O; ++o) db[o] += dyr[o];
  }
  if (dx) gemm<T>(false, false, B, I, O, T(1), dy, O, w, I, T(1), dx, I);
}

template void linear_forward<float>(float*, const float*, const float*, const float*, int, int, int);
template void linear_forward<double>(double*, const double*, const double*, const double*, int, int, int);
template void linear_backward<float>(float*, float*, float*, const float*, const float*, const float*, int, int, int);
template void linear_backward<double>(double*, double*, double*, const double*, const double*, const double*, int, int, int);

}  // namespace vae
