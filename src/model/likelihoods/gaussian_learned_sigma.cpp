// The learned-σ Gaussian likelihood's row (model/likelihoods/gaussian_learned_sigma.h).
#include "model/likelihoods/gaussian_learned_sigma.h"

#include "model/likelihoods/gaussian.h"
#include "model/losses.h"

namespace vae {

namespace {

// theta (D) = s = log σ; dtheta (D) its gradient.
template <class T>
struct GaussianLearnedSigmaMath {
  static double nll_forward(T* rows, const T* mean, const T* x, const T* logsigma, T /*sigma*/,
                            int B, int D) {
    return gaussian_learned_nll_forward<T>(rows, mean, logsigma, x, B, D);
  }
  static void nll_backward(T* dmean, T* dlogsigma, const T* mean, const T* x, const T* logsigma,
                           T /*sigma*/, T scale, int B, int D) {
    gaussian_learned_nll_backward(dmean, dlogsigma, mean, logsigma, x, scale, B, D);
  }
  static void mean_forward(T* mean, const T* out, size_t n) { gaussian_mean_forward(mean, out, n); }
};

}  // namespace

LikelihoodRow gaussian_learned_sigma_likelihood() {
  LikelihoodRow r;
  r.kind = Likelihood::GaussianLearnedSigma;
  r.name = "gaussian";
  r.sigma_role = SigmaRole::Learned;
  r.description = "gaussian (learned sigma)";
  r.unit_interval = false;
  r.auto_scale = ScalerKind::Standardize;
  r.params = {{"decoder.logsigma", 0.0}};
  set_math<GaussianLearnedSigmaMath>(r);
  return r;
}

}  // namespace vae
