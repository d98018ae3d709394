// Data-parallel training steps on one machine.
//
// The batch's B rows are split into P contiguous parts (sizes differ by at most one), part p run
// by replica p of the model on thread p of a WorkerPool, with BLAS single-threaded inside each
// (vae/runtime.h). Every objective the trainer minimises without free bits is a mean over
// examples, so its gradient is the row-weighted mean of the parts' gradients:
//   ∇ (1/B) Σ_b ℓ_b = Σ_p w_p · ∇ (1/B_p) Σ_{b ∈ part p} ℓ_b,   w_p = B_p / B
// summed in a fixed order, so a step is deterministic for a given P and equals the one-model
// step to rounding. Free bits (Σ_j max(λ, KL̄_j), a batch mean inside a max) do not split: use
// P = 1 with them.
//
// Replica 0 is the caller's model itself (its activations hold part 0 after a step); the others
// have room for ⌈max_batch / P⌉ rows and share the model's parameters (Vae::share_params: one
// copy of the weights, nothing to synchronise). Distributed, a part that another process runs
// gets no replica here, only a buffer for the gradient it receives. With P = 1 a step is exactly
// zero_grad, forward (or forward_iw) and backward of the model, on the calling thread, with BLAS's
// own threads.
//
// After step(), one of two ways to the update:
//   - update_fused(adam): each thread takes one range of parameters and, in a single pass over
//     memory, forms the reduced gradient, sums its squares (the norm check), applies Adam and
//     zeroes the parts' gradients for the next step (whose zero_grad is then skipped). The
//     reduced gradient is never stored. The cheapest step, used when nothing needs the gradient
//     before the update (no clipping, no hook);
//   - reduce() stores the reduced gradient in model.grads() and returns Σ g²; then
//     update(adam, scale) applies Adam to it (clipping folds in as the scale).
//
// Distributed, the parts' gradients either travel after this process's last part (blocking,
// PartSharing::share) or overlap the backward passes (PartSharing::exchange): the gradient is
// cut into buckets of whole slices of Vae::backward_ranges() (gradient_buckets), and every
// process walks one sequence of transfers, the same everywhere —
//   for each part p with rows, in part order: its buckets in backward order, then its figures —
// posting each as soon as it can: at once for a part run elsewhere (it receives), and for a part
// run here when the part's backward has made the bucket final (a BackwardHook on its replica),
// its figures when the part is done. Between layers the hook lets the posted transfers move.
// After its own parts the process posts what is left and waits for all. The sum over the parts
// is then formed exactly as without overlap, so the result is the same bit for bit.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "core/pool.h"
#include "optim/adam.h"
#include "vae/model.h"

namespace vae {

/// Fewest rows per part: below this a part's GEMMs are too thin to repay the threads' hand-offs,
/// and BLAS's own threads (or one thread) do better.
constexpr int kMinRowsPerPart = 32;

/// The parts for batches of `batch` rows on `threads` threads: one per thread while each gets
/// kMinRowsPerPart rows, at least 1.
inline int data_parallel_parts(int threads, int batch) {
  return std::max(1, std::min(threads, batch / kMinRowsPerPart));
}

/// The doubles of a part's StepResult that PartSharing::share carries: recon, kl, iw,
/// objective, finite (1 or 0).
constexpr int kSharedResultFields = 5;

/// Bytes of gradient per transfer when the exchange overlaps the backward pass: slices of
/// Vae::backward_ranges() that follow one another in memory are grouped, in backward order, while
/// the group stays within this size (a larger slice is a bucket alone). Smaller buckets start
/// sooner; larger ones cost fewer messages.
constexpr size_t kGradientBucketBytes = size_t{1} << 20;

/// The buckets of a gradient whose slices backward finishes in the order `ranges` (a model's
/// backward_ranges()): consecutive slices adjacent in memory, merged while a bucket holds at
/// most max_elems values (at least one slice each). In bucket_end (ranges.size()), the bucket
/// that slice i completes, or −1 when a later slice completes it.
std::vector<GradRange> gradient_buckets(const std::vector<GradRange>& ranges, size_t max_elems,
                                        std::vector<int>* bucket_end);

/// How the parts' gradients travel between processes while the backward passes run
/// (PartSharing::exchange; distributed: train/distributed.h's BroadcastQueue).
class PartExchange {
 public:
  virtual ~PartExchange() = default;
  /// Starts moving `bytes` at `data` of part p from the process that runs it to the same place
  /// on every other; returns at once. Every process posts the same (p, bytes) in the same order.
  virtual void post(int part, void* data, size_t bytes) = 0;
  /// Lets the posted transfers move; returns at once.
  virtual void progress() = 0;
  /// Returns when every posted transfer has arrived.
  virtual void wait() = 0;
};

/// Parts run by other processes (distributed training, train/distributed.h). This process runs
/// only parts [first, last), on `workers` threads. Without `exchange`, share(p, grads, n, fields)
/// is then called on every process for every part with rows, in part order, and must leave in
/// grads (n values) and fields (kSharedResultFields) what the process that ran part p computed.
/// With `exchange`, the transfers overlap the backward passes instead (file comment), in buckets
/// of at most bucket_bytes; share is not called. Only the thread that calls step() calls
/// `exchange`.
template <class T>
struct PartSharing {
  int first = 0, last = 0;
  int workers = 1;
  std::function<void(int part, T* grads, size_t n, double* fields)> share;
  PartExchange* exchange = nullptr;
  size_t bucket_bytes = kGradientBucketBytes;
};

template <class T>
class DataParallel {
 public:
  /// P = parts replicas (≥ 1) of `model` for batches of up to max_batch rows and max_samples
  /// importance samples. `model` must outlive this object, and its gradients belong to this
  /// object between steps (update_fused leaves them zero and the next step relies on it).
  /// Without `sharing` every part runs here, one thread each; with it (copied) only its parts,
  /// on its workers, and the parameter ranges of the reduction and the update are still P, so
  /// that every sum is formed in the same order whatever the worker count.
  DataParallel(Vae<T>& model, int parts, int max_batch, int max_samples = 1,
               const PartSharing<T>* sharing = nullptr);
  ~DataParallel();

  int parts() const { return parts_; }
  /// Model replicas allocated besides the caller's model: one per part run here other than
  /// part 0 (P − 1 without sharing).
  int replicas() const {
    return static_cast<int>(std::count_if(replicas_.begin(), replicas_.end(),
                                          [](const auto& r) { return r != nullptr; }));
  }

  struct StepResult {
    LossParts loss;        ///< batch sums of the two terms (forward's, or forward_iw's)
    double iw = 0;         ///< Σ_rows L_K (IWAE only)
    double objective = 0;  ///< the minimised objective, nats per example (batch mean)
    bool finite = true;    ///< false: a part's loss was not finite; no gradient was computed
  };
  /// zero_grad, forward and backward of every part (rows x (B, D), ε (K·B, Z) sample-major as
  /// forward_iw takes it, labels (B) or nullptr); each part's gradient (of its own mean) stays
  /// in its replica until reduce() or update_fused(). iwae: forward_iw with K samples and the
  /// L_K objective (beta, free_bits unused); else forward (K = 1) and recon + β·KL
  /// (free_bits > 0 only with P = 1).
  StepResult step(const T* x, const T* eps, int B, int K, const int32_t* labels, bool iwae,
                  double beta = 1.0, double free_bits = 0.0);
  /// After step(): stores Σ_p w_p g_p in model.grads() and returns its Σ g² (double).
  double reduce();
  /// After reduce(): adam.begin_step(), then Adam on the model's parameters from
  /// model.grads() × grad_scale, split over the threads.
  void update(Adam<T>& adam, T grad_scale = T(1));
  /// After step(), instead of reduce() and update(): adam.begin_step(), then the reduction, its
  /// Σ g² and Adam in one pass per parameter range (Adam::update_reduced), which also zeroes the
  /// parts' gradients (model.grads() reads zero afterwards). Returns Σ g² of the reduced
  /// gradient. When it is not finite, the parameters hold NaN exactly where the gradient was not
  /// finite (name the tensors from them), and they and Adam's moments must be restored (the
  /// trainer's recovery does).
  double update_fused(Adam<T>& adam);

 private:
  // Rows [row0(p), row0(p+1)) of a B-row batch belong to part p.
  int row0(int p, int B) const { return p * (B / parts_) + std::min(p, B % parts_); }
  // Parameters [par0(i), par0(i+1)) are thread i's range in the reduction and the update.
  size_t par0(int i) const;
  template <class F>
  void for_ranges(F&& f);  // f(lo, hi, i) on every thread's parameter range
  template <class F>
  void each(int n, F&& f);  // f(i) for i in [0, n), spread over the workers
  void share_parts(int B);  // sharing_.share for every part with rows (distributed)
  // The overlapped exchange (sharing_.exchange, file comment).
  class PartHook final : public BackwardHook {  // on part p's replica during its backward
   public:
    PartHook(DataParallel* dp, int part) : dp_(dp), part_(part) {}
    void gradient_ready(size_t i, GradRange) override { dp_->range_ready(part_, i); }

   private:
    DataParallel* dp_;
    int part_;
  };
  bool overlaps() const { return sharing_.exchange != nullptr; }
  void start_exchange(int B);
  void range_ready(int p, size_t i);
  void part_done(int p);
  void post_ready();
  void finish_exchange();
  bool runs_here(int p) const { return p >= sharing_.first && p < sharing_.last; }
  T* part_grads(int p) {
    if (p == 0) return model_.grads();
    const size_t i = static_cast<size_t>(p - 1);
    return replicas_[i] ? replicas_[i]->grads() : received_[i].data();
  }
  double range_sq_total() const;  // Σ of grad_sq_ over the threads' ranges

  Vae<T>& model_;
  int parts_;
  std::vector<std::unique_ptr<Vae<T>>> replicas_;  // (P − 1) parts 1..P−1 run here, else null
  std::vector<std::vector<T>> received_;  // (P − 1) parts run elsewhere: (num_params) each
  std::vector<std::vector<T>> eps_;                 // (P) per part (K·B_p, Z), IWAE only
  std::vector<StepResult> results_;                 // (P) per part
  std::vector<T*> grads_;                           // (≤ P) gradients of the last step's parts
  std::vector<char> zeroed_;                        // (P) part p's gradients are known zero
  std::vector<T> weights_;                          // (≤ P) their w_p = B_p / B
  std::vector<double> grad_sq_;                     // (P) per parameter range
  PartSharing<T> sharing_;                          // parts [first, last) run here
  // The overlapped exchange: the gradient's buckets in backward order; per slice of
  // backward_ranges() the bucket it completes (−1: none); per part its hook, how many of its
  // transfers may go (its buckets made final; all nb + 1 with its figures, once it is done) and
  // its figures; the next transfer of the sequence (part, item: bucket, or nb for the figures);
  // the rows of the step's batch; and the thread that calls step(), the only one that posts.
  std::vector<GradRange> buckets_;                      // (nb)
  std::vector<int> bucket_end_;                         // (slices)
  std::vector<PartHook> hooks_;                         // (P)
  std::unique_ptr<std::atomic<int>[]> ready_;           // (P)
  std::vector<std::array<double, kSharedResultFields>> fields_;  // (P)
  int next_part_ = 0, next_item_ = 0, step_rows_ = 0;
  std::thread::id poster_;
  bool shared_ = false;                             // sharing_ was given
  int workers_;                                     // threads of the pool (P without sharing)
  std::unique_ptr<WorkerPool> pool_;                // workers_ > 1 only
};

extern template class DataParallel<float>;
extern template class DataParallel<double>;

}  // namespace vae
