// Data-parallel training steps on one machine.
//
// The batch's B rows are split into P contiguous parts (sizes differ by at most one), part p run
// by replica p of the model on thread p of a WorkerPool, with BLAS single-threaded inside each
// (vae/runtime.h). Every objective the trainer minimises without free bits is a mean over
// examples, so its gradient is the row-weighted mean of the parts' gradients:
//   ∇ (1/B) Σ_b ℓ_b = Σ_p (B_p / B) · ∇ (1/B_p) Σ_{b ∈ part p} ℓ_b
// reduced into the main model's grads() in a fixed order, so a step is deterministic for a given
// P and equals the one-model step to rounding. The Adam update is split over the same parameter
// ranges, and each thread copies its updated range to the other replicas.
// Free bits (Σ_j max(λ, KL̄_j), a batch mean inside a max) do not split: use P = 1 with them.
//
// Replica 0 is the caller's model itself (its activations hold part 0 after a step); the others
// are copies with room for ⌈max_batch / P⌉ rows. With P = 1 a step is exactly zero_grad, forward
// (or forward_iw), backward on the model, on the calling thread, with BLAS's own threads.
//
// A step is three pool runs: forward + backward of each part; the gradient reduction (each
// thread one range of parameters, also summing its range's squares for the global norm); the
// Adam update with replica copies.
#pragma once

#include <memory>
#include <vector>

#include "vae/model.h"
#include "vae/optim.h"
#include "vae/runtime.h"

namespace vae {

template <class T>
class DataParallel {
 public:
  /// P = parts replicas (≥ 1) of `model` for batches of up to max_batch rows and max_samples
  /// importance samples. `model` must outlive this object; its parameters are copied to the
  /// replicas here and by sync_params().
  DataParallel(Vae<T>& model, int parts, int max_batch, int max_samples = 1);
  ~DataParallel();

  int parts() const { return parts_; }
  /// Copies the model's parameters to the replicas: needed after they change other than by
  /// update() (initialisation, resume, restoring a saved state).
  void sync_params();

  struct StepResult {
    LossParts loss;          ///< batch sums of the two terms (forward's, or forward_iw's)
    double iw = 0;           ///< Σ_rows L_K (IWAE only)
    double objective = 0;    ///< the minimised objective, nats per example (batch mean)
    double grad_sq = 0;      ///< Σ g² of the reduced gradient, in double
    bool finite = true;      ///< false: a part's loss was not finite; no gradient was computed
  };
  /// zero_grad, forward and backward of every part (rows x (B, D), ε (K·B, Z) sample-major as
  /// forward_iw takes it, labels (B) or nullptr); gradients end in model.grads() as the mean
  /// over all B rows. iwae: forward_iw with K samples and the L_K objective (beta, free_bits
  /// unused); else forward (K = 1) and recon + β·KL (free_bits > 0 only with P = 1).
  StepResult step(const T* x, const T* eps, int B, int K, const int32_t* labels, bool iwae,
                  double beta = 1.0, double free_bits = 0.0);
  /// adam.begin_step(), then the update of the model's parameters from grads() × grad_scale,
  /// split over the threads, each range copied to the replicas.
  void update(Adam<T>& adam, T grad_scale = T(1));

 private:
  // Rows [row0(p), row0(p+1)) of a B-row batch belong to part p.
  int row0(int p, int B) const { return p * (B / parts_) + std::min(p, B % parts_); }
  // Parameters [par0(i), par0(i+1)) are thread i's range in the reduction and the update.
  size_t par0(int i) const;

  Vae<T>& model_;
  int parts_;
  std::vector<std::unique_ptr<Vae<T>>> replicas_;  // (P − 1) parts 1..P−1
  std::vector<std::vector<T>> eps_;                 // (P) per part (K·B_p, Z), IWAE only
  std::vector<StepResult> results_;                 // (P) per part
  std::vector<double> grad_sq_;                     // (P) per parameter range
  std::unique_ptr<WorkerPool> pool_;                // P > 1 only
};

extern template class DataParallel<float>;
extern template class DataParallel<double>;

}  // namespace vae
