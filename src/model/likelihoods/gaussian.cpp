// The fixed-σ Gaussian likelihood's row (contract and math: model/likelihoods/gaussian.h).
#include "model/likelihoods/gaussian.h"

#include <cstring>

#include "model/losses.h"

namespace vae {

template <class T>
void gaussian_mean_forward(T* mean, const T* out, size_t n) {
  std::memcpy(mean, out, sizeof(T) * n);
}
template void gaussian_mean_forward<float>(float*, const float*, size_t);
template void gaussian_mean_forward<double>(double*, const double*, size_t);

namespace {

template <class T>
struct GaussianMath {
  static double nll_forward(T* rows, const T* mean, const T* x, const T* /*theta*/, T sigma, int B,
                            int D) {
    return gaussian_nll_forward<T>(rows, mean, x, sigma, B, D);
  }
  static void nll_backward(T* dmean, T* /*dtheta*/, const T* mean, const T* x, const T* /*theta*/,
                           T sigma, T scale, int B, int D) {
    gaussian_nll_backward(dmean, mean, x, sigma, scale, static_cast<size_t>(B) * D);
  }
  static void mean_forward(T* mean, const T* out, size_t n) { gaussian_mean_forward(mean, out, n); }
};

}  // namespace

LikelihoodRow gaussian_likelihood() {
  LikelihoodRow r;
  r.kind = Likelihood::Gaussian;
  r.name = "gaussian";
  r.sigma_role = SigmaRole::Fixed;
  r.description = "gaussian";
  r.unit_interval = false;
  r.auto_scale = ScalerKind::Standardize;
  set_math<GaussianMath>(r);
  return r;
}

}  // namespace vae
