// The Bernoulli likelihood's row (contract and math: model/likelihoods/bernoulli.h).
#include "model/likelihoods/bernoulli.h"

#include "model/losses.h"

namespace vae {

namespace {

template <class T>
struct BernoulliMath {
  static double nll_forward(T* rows, const T* logits, const T* x, const T* /*theta*/,
                            T /*sigma*/, int B, int D) {
    return bernoulli_nll_forward<T>(rows, logits, x, B, D);
  }
  static void nll_backward(T* dlogits, T* /*dtheta*/, const T* logits, const T* x,
                           const T* /*theta*/, T /*sigma*/, T scale, int B, int D) {
    bernoulli_nll_backward(dlogits, logits, x, scale, static_cast<size_t>(B) * D);
  }
  static void mean_forward(T* mean, const T* logits, size_t n) { sigmoid_forward(mean, logits, n); }
};

}  // namespace

LikelihoodRow bernoulli_likelihood() {
  LikelihoodRow r;
  r.kind = Likelihood::Bernoulli;
  r.name = "bernoulli";
  r.sigma_role = SigmaRole::None;
  r.description = "bernoulli";
  r.unit_interval = true;
  r.auto_scale = ScalerKind::ZeroOne;
  set_math<BernoulliMath>(r);
  return r;
}

}  // namespace vae
