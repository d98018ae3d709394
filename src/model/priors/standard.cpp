// The standard prior's rows and its latent structure (model/priors/standard.h).
#include "model/priors/standard.h"

#include <vector>

#include "model/losses.h"
#include "model/priors/vamp.h"
#include "vae/error.h"

namespace vae {

PriorRow standard_prior() {
  PriorRow r;
  r.kind = Prior::Standard;
  r.name = "standard";
  r.json_name = "standard_normal";
  r.description = "standard normal";
  r.pseudo_inputs = false;
  return r;
}

namespace {

template <class T>
class StandardLatent final : public LatentStructure<T> {
  using Base = LatentStructure<T>;
  using Base::acts;
  using Base::at;
  using Base::cfg;
  using Base::dacts;
  using typename Base::Model;

 public:
  std::unique_ptr<Base> clone() const override { return std::make_unique<StandardLatent>(*this); }

  void place(Model& m, const ModelPlan&) override { kl_weight_.assign(cfg(m).latent, T(0)); }

  double kl_forward(Model& m, int B) override {
    return gaussian_kl_forward<T>(nullptr, acts(m) + at(m).mu, acts(m) + at(m).logvar, B,
                                  cfg(m).latent);
  }

  void kl_rows(const Model& m, int B, T* rows) const override {
    gaussian_kl_forward<T>(rows, acts(m) + at(m).mu, acts(m) + at(m).logvar, B, cfg(m).latent);
  }

  // Each sample row's ½ Σ_j (z² − ε² − log σ²); the closed-form KL is what forward_iw reports.
  double iw_kl_forward(Model& m, T* kl, int B, int K) override {
    const int Z = cfg(m).latent;
    const size_t nz = static_cast<size_t>(B) * Z;
    const T* A = acts(m);
    const typename Base::Tensors t = at(m);
    for (int k = 0; k < K; ++k)
      gaussian_kl_sample_forward(kl + k * B, A + t.z + k * nz, A + t.eps + k * nz, A + t.logvar, B,
                                 Z);
    return kl_forward(m, B);
  }

  double elbo_backward(Model& m, const T*, int B, T scale, double beta, double free_bits,
                       KlEstimator kl) override {
    const double objective = kl_backward(m, B, scale, beta, free_bits, kl);
    Base::reparam_samples_backward(m, B, 1);
    return objective;
  }

  void iw_backward(Model& m, const T*, int B, int K, const double* weight, T scale) override {
    const int Z = cfg(m).latent;
    const T* A = acts(m);
    T* dA = dacts(m);
    const typename Base::Tensors t = at(m);
    for (int r = 0; r < K * B; ++r)
      gaussian_kl_sample_backward(
          dA + t.z + static_cast<size_t>(r) * Z, dA + t.logvar + static_cast<size_t>(r % B) * Z,
          A + t.z + static_cast<size_t>(r) * Z, static_cast<T>(scale * weight[r]), Z);
    Base::reparam_samples_backward(m, B, K);
  }

  void log_prior(Model& m, const T* z, int n, T* logp) override {
    standard_log_prior_forward(logp, z, n, cfg(m).latent);
  }

 private:
  // The KL term adds into dz (sampled estimate) or straight into dμ and dlog σ² (closed form,
  // or with free bits each dimension's weight); returns β times its batch mean.
  double kl_backward(Model& m, int B, T scale, double beta, double free_bits, KlEstimator kl) {
    const int Z = cfg(m).latent;
    const size_t nz = static_cast<size_t>(B) * Z;
    const T* A = acts(m);
    T* dA = dacts(m);
    const typename Base::Tensors t = at(m);
    if (kl == KlEstimator::Sample) {
      VAE_ASSERT(free_bits == 0.0);
      gaussian_kl_sample_backward(dA + t.z, dA + t.logvar, A + t.z, static_cast<T>(beta) * scale,
                                  nz);
      return beta * gaussian_kl_sample_forward<T>(nullptr, A + t.z, A + t.eps, A + t.logvar, B, Z) /
             B;
    }
    if (free_bits > 0) {
      const double objective = beta * free_bits_weights(kl_weight_.data(), A + t.mu, A + t.logvar,
                                                        B, Z, beta, free_bits);
      gaussian_kl_backward_weighted(dA + t.mu, dA + t.logvar, A + t.mu, A + t.logvar,
                                    kl_weight_.data(), scale, B, Z);
      return objective;
    }
    gaussian_kl_backward(dA + t.mu, dA + t.logvar, A + t.mu, A + t.logvar,
                         static_cast<T>(beta) * scale, nz);
    return beta * kl_forward(m, B) / B;
  }

  std::vector<T> kl_weight_;  // (Z) per-dimension KL gradient factors (free bits)
};

bool serves(const ModelConfig& cfg) { return cfg.prior == Prior::Standard && cfg.top_latent == 0; }

template <class T>
std::unique_ptr<LatentStructure<T>> make(const ModelConfig&) {
  return std::make_unique<StandardLatent<T>>();
}

}  // namespace

LatentRow standard_latent() { return {"standard", serves, make<float>, make<double>}; }

}  // namespace vae
