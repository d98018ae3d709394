// Adam (Kingma & Ba, 2015) over one flat parameter buffer, as PyTorch's torch.optim.Adam computes
// it. For step t = 1, 2, … and each element:
//   m ← β₁ m + (1 − β₁) g
//   v ← β₂ v + (1 − β₂) g²
//   θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
// (the bias-corrected form m̂ / (√v̂ + ε) with ε added after the correction of v, as in PyTorch).
// With weight decay λ > 0 it is AdamW (Loshchilov & Hutter 2019, torch.optim.AdamW): the decay is
// decoupled from the gradient, applied to θ first in the same step,
//   θ ← θ · (1 − lr·λ)
// and then the update above (λ = 0 multiplies by exactly 1: plain Adam, bit for bit).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vae {

struct AdamConfig {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  ///< λ of AdamW (0 = Adam)
};

template <class T>
class Adam {
 public:
  Adam(size_t n, const AdamConfig& cfg) : cfg_(cfg), m_(n, T(0)), v_(n, T(0)) {}

  /// One update of params (n) from grads (n): begin_step() then update() over [0, n).
  void step(T* params, const T* grads);
  /// The same update split for workers: begin_step() once (advances t), then update() over
  /// disjoint ranges [lo, hi) that cover [0, n), in any order and on any threads. Each gradient
  /// is multiplied by grad_scale first (gradient clipping folded into the update: g·s rounds
  /// exactly as scaling the buffer in place would).
  void begin_step();
  void update(T* params, const T* grads, size_t lo, size_t hi, T grad_scale = T(1));
  /// update() with the gradient formed on the fly, g = Σ_p weights[p] · grads[p][i] over
  /// p = 0..parts−1 in order (the reduction of data-parallel parts, never stored), and with the
  /// norm check fused into the same pass over memory: returns Σ g² over [lo, hi) in double.
  /// zero_grads: also zeroes grads[p][lo, hi) once read (the next step's zero_grad, done while
  /// the lines are in cache). A non-finite g leaves NaN in that parameter (m/√v of ±Inf is
  /// Inf/Inf), so the parameters show where the gradient was not finite.
  double update_reduced(T* params, T* const* grads, const T* weights, int parts, size_t lo,
                        size_t hi, bool zero_grads = false);

  const AdamConfig& config() const { return cfg_; }
  void set_lr(double lr) { cfg_.lr = lr; }
  int64_t steps() const { return t_; }
  size_t size() const { return m_.size(); }
  // The state a checkpoint saves: first and second moments (n each) and the step count.
  std::vector<T>& m() { return m_; }
  std::vector<T>& v() { return v_; }
  const std::vector<T>& m() const { return m_; }
  const std::vector<T>& v() const { return v_; }
  void set_steps(int64_t t) { t_ = t; }

 private:
  AdamConfig cfg_;
  std::vector<T> m_, v_;  // (n) each
  int64_t t_ = 0;
  T step_size_ = 0, inv_sqrt_bc2_ = 0;  // lr / (1 − β₁ᵗ) and 1 / √(1 − β₂ᵗ) of the current step
  T decay_ = 1;                         // 1 − lr·λ of the current step
};

/// Σ g_i² over n values, accumulated in double (32 independent partial sums, so it vectorises;
/// the order is fixed, so the result is deterministic).
template <class T>
double sum_squares(const T* g, size_t n);

/// Gradient-norm clipping (PyTorch's clip_grad_norm_): with ‖g‖ = √(Σ g_i²) over all n values
/// (in double), scales g by max_norm / ‖g‖ when ‖g‖ > max_norm. Returns ‖g‖ before clipping
/// (NaN or Inf when a gradient is not finite; g is then left alone).
template <class T>
double clip_grad_norm(T* grads, size_t n, double max_norm);

extern template class Adam<float>;
extern template class Adam<double>;

}  // namespace vae
