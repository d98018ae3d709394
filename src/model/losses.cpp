// The terms of the negative ELBO (formulas and contracts in src/model/losses.h).
#include "model/losses.h"

#include <algorithm>
#include <cmath>

#include "core/fastmath.h"
#include "core/kernels.h"

namespace vae {

template <class T>
void reparam_forward(T* z, const T* mu, const T* logvar, const T* eps, size_t n) {
  for (size_t i = 0; i < n; ++i) z[i] = mu[i] + std::exp(T(0.5) * logvar[i]) * eps[i];
}

template <class T>
void reparam_backward(T* dmu, T* dlogvar, const T* dz, const T* logvar, const T* eps, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    dmu[i] += dz[i];
    dlogvar[i] += dz[i] * T(0.5) * std::exp(T(0.5) * logvar[i]) * eps[i];
  }
}

template <class T>
double gaussian_kl_forward(T* kl_rows, const T* mu, const T* logvar, int B, int Z) {
  double total = 0;
  for (int r = 0; r < B; ++r) {
    double row = 0;
    for (int j = 0; j < Z; ++j) {
      const double m = mu[r * Z + j], lv = logvar[r * Z + j];
      row += -0.5 * (1.0 + lv - m * m - std::exp(lv));
    }
    if (kl_rows) kl_rows[r] = static_cast<T>(row);
    total += row;
  }
  return total;
}

template <class T>
void gaussian_kl_backward(T* dmu, T* dlogvar, const T* mu, const T* logvar, T scale, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    dmu[i] += scale * mu[i];
    dlogvar[i] += scale * T(0.5) * (std::exp(logvar[i]) - T(1));
  }
}

template <class T>
double gaussian_kl_sample_forward(T* kl_rows, const T* z, const T* eps, const T* logvar, int B,
                                  int Z) {
  double total = 0;
  for (int r = 0; r < B; ++r) {
    double row = 0;
    for (int j = 0; j < Z; ++j) {
      const size_t i = static_cast<size_t>(r) * Z + j;
      const double zi = z[i], ei = eps[i];
      row += 0.5 * (zi * zi - ei * ei - static_cast<double>(logvar[i]));
    }
    if (kl_rows) kl_rows[r] = static_cast<T>(row);
    total += row;
  }
  return total;
}

template <class T>
void gaussian_kl_sample_backward(T* dz, T* dlogvar, const T* z, T scale, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    dz[i] += scale * z[i];
    dlogvar[i] -= T(0.5) * scale;
  }
}

template <class T>
double free_bits_weights(T* dim_weight, const T* mu, const T* logvar, int B, int Z, double beta,
                         double lambda) {
  double objective = 0;
  for (int j = 0; j < Z; ++j) {
    double kl = 0;
    for (int r = 0; r < B; ++r) {
      const double m = mu[r * Z + j], lv = logvar[r * Z + j];
      kl += -0.5 * (1.0 + lv - m * m - std::exp(lv));
    }
    kl /= B;
    dim_weight[j] = static_cast<T>(kl >= lambda ? beta : 0.0);
    objective += std::max(kl, lambda);
  }
  return objective;
}

template <class T>
void gaussian_kl_backward_weighted(T* dmu, T* dlogvar, const T* mu, const T* logvar,
                                   const T* dim_weight, T scale, int B, int Z) {
  for (int r = 0; r < B; ++r)
    for (int j = 0; j < Z; ++j) {
      const size_t i = static_cast<size_t>(r) * Z + j;
      const T w = scale * dim_weight[j];
      dmu[i] += w * mu[i];
      dlogvar[i] += w * T(0.5) * (std::exp(logvar[i]) - T(1));
    }
}

// ---- The likelihoods' loops: float through the CPU's kernel table (core/kernels.h), double
// here (the reference formulas: the kernels are tested against them, and the gradient checks
// run them). The row loops below are the same for both.

namespace {

//   Σ_j softplus(l_j) − x_j·l_j   (one row)
double bernoulli_row(const double* l, const double* x, int D) {
  double row = 0;
  for (int j = 0; j < D; ++j) row += fastmath::softplus(l[j]) - x[j] * l[j];
  return row;
}
float bernoulli_row(const float* l, const float* x, int D) {
  return kernels::best().bernoulli_nll_row(l, x, static_cast<size_t>(D));
}

//   dl += scale · (σ(l) − x)
void bernoulli_backward(double* dl, const double* l, const double* x, double scale, size_t n) {
  for (size_t i = 0; i < n; ++i) dl[i] += scale * (fastmath::sigmoid(l[i]) - x[i]);
}
void bernoulli_backward(float* dl, const float* l, const float* x, float scale, size_t n) {
  kernels::best().bernoulli_nll_backward(dl, l, x, scale, n);
}

void sigmoid_all(double* y, const double* l, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = fastmath::sigmoid(l[i]);
}
void sigmoid_all(float* y, const float* l, size_t n) { kernels::best().sigmoid(y, l, n); }

//   Σ_j (x_j − m_j)²   (one row)
double squared_error_row(const double* m, const double* x, int D) {
  double sq = 0;
  for (int j = 0; j < D; ++j) sq += (x[j] - m[j]) * (x[j] - m[j]);
  return sq;
}
float squared_error_row(const float* m, const float* x, int D) {
  return kernels::best().squared_error_row(m, x, static_cast<size_t>(D));
}

//   dm += k · (m − x)
void squared_error_backward(double* dm, const double* m, const double* x, double k, size_t n) {
  for (size_t i = 0; i < n; ++i) dm[i] += k * (m[i] - x[i]);
}
void squared_error_backward(float* dm, const float* m, const float* x, float k, size_t n) {
  kernels::best().squared_error_backward(dm, m, x, k, n);
}

}  // namespace

template <class T>
double bernoulli_nll_forward(T* nll_rows, const T* logits, const T* x, int B, int D) {
  double total = 0;
  for (int r = 0; r < B; ++r) {
    // Summed in T within a row, in double across rows.
    const T row =
        bernoulli_row(logits + static_cast<size_t>(r) * D, x + static_cast<size_t>(r) * D, D);
    if (nll_rows) nll_rows[r] = row;
    total += row;
  }
  return total;
}

template <class T>
void bernoulli_nll_backward(T* dlogits, const T* logits, const T* x, T scale, size_t n) {
  bernoulli_backward(dlogits, logits, x, scale, n);
}

template <class T>
double gaussian_nll_forward(T* nll_rows, const T* mean, const T* x, T sigma, int B, int D) {
  const T inv_var = T(1) / (sigma * sigma);
  const double constant = D * (std::log(static_cast<double>(sigma)) + kHalfLog2Pi);
  double total = 0;
  for (int r = 0; r < B; ++r) {
    const T sq =
        squared_error_row(mean + static_cast<size_t>(r) * D, x + static_cast<size_t>(r) * D, D);
    const double row = 0.5 * static_cast<double>(sq) * inv_var + constant;
    if (nll_rows) nll_rows[r] = static_cast<T>(row);
    total += row;
  }
  return total;
}

template <class T>
void gaussian_nll_backward(T* dmean, const T* mean, const T* x, T sigma, T scale, size_t n) {
  squared_error_backward(dmean, mean, x, scale / (sigma * sigma), n);
}

template <class T>
double gaussian_learned_nll_forward(T* nll_rows, const T* mean, const T* logsigma, const T* x,
                                    int B, int D) {
  double constant = D * kHalfLog2Pi;
  for (int j = 0; j < D; ++j) constant += logsigma[j];
  double total = 0;
  for (int r = 0; r < B; ++r) {
    const T* m = mean + static_cast<size_t>(r) * D;
    const T* xr = x + static_cast<size_t>(r) * D;
    T sq = 0;
#pragma omp simd reduction(+ : sq)
    for (int j = 0; j < D; ++j) sq += (xr[j] - m[j]) * (xr[j] - m[j]) * std::exp(-2 * logsigma[j]);
    const double row = 0.5 * static_cast<double>(sq) + constant;
    if (nll_rows) nll_rows[r] = static_cast<T>(row);
    total += row;
  }
  return total;
}

template <class T>
void gaussian_learned_nll_backward(T* dmean, T* dlogsigma, const T* mean, const T* logsigma,
                                   const T* x, T scale, int B, int D) {
  for (int r = 0; r < B; ++r) {
    const T* m = mean + static_cast<size_t>(r) * D;
    const T* xr = x + static_cast<size_t>(r) * D;
    T* dm = dmean + static_cast<size_t>(r) * D;
    for (int j = 0; j < D; ++j) {
      const T inv_var = std::exp(-2 * logsigma[j]);
      const T diff = m[j] - xr[j];
      dm[j] += scale * diff * inv_var;
      dlogsigma[j] += scale * (T(1) - diff * diff * inv_var);
    }
  }
}

template <class T>
void sigmoid_forward(T* y, const T* l, size_t n) {
  sigmoid_all(y, l, n);
}

#define VAE_INSTANTIATE(T)                                                               \
  template void reparam_forward<T>(T*, const T*, const T*, const T*, size_t);            \
  template void reparam_backward<T>(T*, T*, const T*, const T*, const T*, size_t);       \
  template double gaussian_kl_forward<T>(T*, const T*, const T*, int, int);              \
  template void gaussian_kl_backward<T>(T*, T*, const T*, const T*, T, size_t);          \
  template double bernoulli_nll_forward<T>(T*, const T*, const T*, int, int);            \
  template void bernoulli_nll_backward<T>(T*, const T*, const T*, T, size_t);            \
  template void sigmoid_forward<T>(T*, const T*, size_t);                               \
  template double free_bits_weights<T>(T*, const T*, const T*, int, int, double, double); \
  template void gaussian_kl_backward_weighted<T>(T*, T*, const T*, const T*, const T*, T, int, int); \
  template double gaussian_nll_forward<T>(T*, const T*, const T*, T, int, int);         \
  template void gaussian_nll_backward<T>(T*, const T*, const T*, T, T, size_t);          \
  template double gaussian_kl_sample_forward<T>(T*, const T*, const T*, const T*, int, int); \
  template void gaussian_kl_sample_backward<T>(T*, T*, const T*, T, size_t);             \
  template double gaussian_learned_nll_forward<T>(T*, const T*, const T*, const T*, int, int); \
  template void gaussian_learned_nll_backward<T>(T*, T*, const T*, const T*, const T*, T, int, int);
VAE_INSTANTIATE(float)
VAE_INSTANTIATE(double)
#undef VAE_INSTANTIATE

}  // namespace vae
