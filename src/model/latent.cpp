// The table of latent structures and the parts they share (model/latent.h).
#include "model/latent.h"

#include <cstring>

#include "model/hierarchy.h"
#include "model/losses.h"
#include "model/priors/standard.h"
#include "model/priors/vamp.h"
#include "vae/error.h"

namespace vae {

// ---- Defaults -------------------------------------------------------------------------------

template <class T>
void LatentStructure<T>::ranges(const Model&, std::vector<GradRange>&) const {}

// One stochastic layer: z_k = μ + σ ⊙ ε_k.
template <class T>
void LatentStructure<T>::sample_forward(Model& m, const T*, int B, int K) {
  reparam_samples_forward(m, B, K);
}

// One stochastic layer: the heads on x are the posterior.
template <class T>
void LatentStructure<T>::encode(Model& m, const T*, int B, T* mu, T* logvar) {
  const size_t n = static_cast<size_t>(B) * cfg(m).latent;
  std::memcpy(mu, acts(m) + at(m).mu, sizeof(T) * n);
  std::memcpy(logvar, acts(m) + at(m).logvar, sizeof(T) * n);
}

// ---- The model's parts ----------------------------------------------------------------------

template <class T>
void LatentStructure<T>::add_range(std::vector<GradRange>& out, size_t lo, size_t hi) {
  if (hi > lo) out.push_back({lo, hi});
}

template <class T>
void LatentStructure<T>::add_stack_ranges(std::vector<GradRange>& out,
                                          const std::vector<Layer>& stack) {
  for (size_t l = stack.size(); l-- > 0;) add_range(out, stack[l].p, stack[l].p + stack[l].np);
}

template <class T>
void LatentStructure<T>::add_stack_heads_ranges(std::vector<GradRange>& out,
                                                const std::vector<Layer>& stack, const Layer& mu,
                                                const Layer& lv) {
  add_range(out, mu.p, mu.p + mu.np);
  add_range(out, lv.p, lv.p + lv.np);
  add_stack_ranges(out, stack);
}

template <class T>
void LatentStructure<T>::stack_heads_forward(Model& m, const std::vector<Layer>& stack,
                                             const Layer& mu, const Layer& lv, int rows) {
  for (const Layer& l : stack) m.layer_forward(l, nullptr, rows, &m.default_label_, 1);
  m.layer_forward(mu, nullptr, rows, &m.default_label_, 1);
  m.kind_forward(lv, nullptr, rows);
}

template <class T>
void LatentStructure<T>::stack_heads_backward(Model& m, const std::vector<Layer>& stack,
                                              const Layer& mu, const Layer& lv, int rows) {
  m.kind_backward(mu, nullptr, rows);
  m.layer_final(mu);
  m.kind_backward(lv, nullptr, rows);
  m.layer_final(lv);
  m.stack_backward(stack, nullptr, rows, true);
}

template <class T>
void LatentStructure<T>::reparam_samples_forward(Model& m, int B, int K) {
  const size_t nz = static_cast<size_t>(B) * cfg(m).latent;
  const Tensors t = at(m);
  T* A = acts(m);
  for (int k = 0; k < K; ++k)
    reparam_forward(A + t.z + k * nz, A + t.mu, A + t.logvar, A + t.eps + k * nz, nz);
}

// z = μ + σ ⊙ ε: each sample's dz flows into dμ and dlog σ².
template <class T>
void LatentStructure<T>::reparam_samples_backward(Model& m, int B, int K) {
  const size_t nz = static_cast<size_t>(B) * cfg(m).latent;
  const Tensors t = at(m);
  const T* A = acts(m);
  T* dA = dacts(m);
  for (int k = 0; k < K; ++k)
    reparam_backward(dA + t.mu, dA + t.logvar, dA + t.z + k * nz, A + t.logvar, A + t.eps + k * nz,
                     nz);
}

template class LatentStructure<float>;
template class LatentStructure<double>;

template <class T>
LatentPtr<T>::LatentPtr() = default;
template <class T>
LatentPtr<T>::LatentPtr(std::unique_ptr<LatentStructure<T>> p) : p_(std::move(p)) {}
template <class T>
LatentPtr<T>::LatentPtr(const LatentPtr& other) : p_(other.p_ ? other.p_->clone() : nullptr) {}
template <class T>
LatentPtr<T>::LatentPtr(LatentPtr&& other) noexcept = default;
template <class T>
LatentPtr<T>& LatentPtr<T>::operator=(LatentPtr other) noexcept {
  p_ = std::move(other.p_);
  return *this;
}
template <class T>
LatentPtr<T>::~LatentPtr() = default;

template class LatentPtr<float>;
template class LatentPtr<double>;

// ---- The table ------------------------------------------------------------------------------

const std::vector<LatentRow>& latent_table() {
  static const std::vector<LatentRow> table = {standard_latent(), vamp_latent(),
                                               hierarchy_latent()};
  return table;
}

const LatentRow& latent_row(const ModelConfig& cfg) {
  const LatentRow* found = nullptr;
  for (const LatentRow& r : latent_table()) {
    if (!r.serves(cfg)) continue;
    VAE_ASSERT(found == nullptr);
    found = &r;
  }
  VAE_ASSERT(found != nullptr);
  return *found;
}

template <>
std::unique_ptr<LatentStructure<float>> make_latent_structure<float>(const ModelConfig& cfg) {
  return latent_row(cfg).make_f32(cfg);
}

template <>
std::unique_ptr<LatentStructure<double>> make_latent_structure<double>(const ModelConfig& cfg) {
  return latent_row(cfg).make_f64(cfg);
}

}  // namespace vae
