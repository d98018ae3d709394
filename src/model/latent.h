// The latent structures: how a model goes from the encoder's heads on x to z and back, and what
// its prior is — one stochastic layer under N(0, I) (model/priors/standard.h), one under the
// VampPrior (model/priors/vamp.h), or two stochastic layers (model/hierarchy.h). The model
// (src/model/vae.cpp) holds one LatentStructure, chosen once at construction from the table
// below, and reaches every part that differs between them through it; each kind's math sits in
// its own file pair.
//
// Legend: B examples, K samples each, R = K·B sample rows (row r belongs to example r mod B),
// Z latent size, n rows of z.
//
// What a kind does, each call after the model's own steps named here:
//   place          after the decoder's tensors: its own tensors (add_slot) and buffers
//   ranges         the gradient slices it finishes between the decoder's and the heads'
//   sample_forward after the encoder's pass on x and ε (R, Z) at eps: z (R, Z)
//   kl_forward     after forward's decoder: the batch sum of the KL term it trains with
//   kl_rows        the per-example KL rows of that last forward (B)
//   iw_kl_forward  after forward_iw's decoder: log q(z_r|x) − log p(z_r) of each sample row
//                  into kl (R); returns the KL sum forward_iw reports
//   elbo_backward  after the decoder's backward (dz filled): β · KL-term, its gradient back to
//                  dμ, dlog σ² of the heads on x; returns β · the KL term's batch mean
//   iw_backward    the same for L_K: each row's log q − log p weighted by scale · w̃_r
//   encoder_reused whether the encoder's parameter gradients are still open after the pass on x
//                  (a prior that runs the encoder again adds to them: prior_backward finishes)
//   prior_backward after the encoder's backward on x: its own pass and parameters
//   log_prior      log p(z) of n rows (n, Z)
//   sample_prior   z (n, Z) holding ε ~ N(0, I) becomes n draws of p(z)
//   encode         after the encoder's pass on x: the posterior's μ, log σ² rows (B, Z)
//   gaussian_posterior whether q(z|x) is one Gaussian N(μ, σ²) per example (encode's rows), so an
//                  IW estimate may draw its samples from posteriors encoded once and decode only
//                  (src/eval/iw.cpp); otherwise it runs forward_iw on every (example, sample) pair
//
// Adding a latent structure: a file pair holding a LatentStructure subclass (its math beside its
// code) and a function returning its row, that function in latent_table() (latent.cpp), the
// config fields that choose it (ModelConfig), and its gradient and exact-value tests.
#pragma once

#include <memory>
#include <vector>

#include "vae/model.h"

namespace vae {

struct ModelPlan;

template <class T>
class LatentStructure {
 public:
  using Model = Vae<T>;
  virtual ~LatentStructure() = default;
  /// A copy of this structure (its offsets and buffers), for a copy of the model.
  virtual std::unique_ptr<LatentStructure> clone() const = 0;

  virtual void place(Model& m, const ModelPlan& plan) = 0;
  virtual void ranges(const Model& m, std::vector<GradRange>& out) const;
  virtual void sample_forward(Model& m, const T* x, int B, int K);
  virtual double kl_forward(Model& m, int B) = 0;
  virtual void kl_rows(const Model& m, int B, T* rows) const = 0;
  virtual double iw_kl_forward(Model& m, T* kl, int B, int K) = 0;
  virtual double elbo_backward(Model& m, const T* x, int B, T scale, double beta, double free_bits,
                               KlEstimator kl) = 0;
  virtual void iw_backward(Model& m, const T* x, int B, int K, const double* weight, T scale) = 0;
  virtual bool encoder_reused() const { return false; }
  virtual void prior_backward(Model&) {}
  virtual void log_prior(Model& m, const T* z, int n, T* logp) = 0;
  virtual void sample_prior(Model&, T*, size_t, Rng&) {}
  virtual void encode(Model& m, const T* x, int B, T* mu, T* logvar);
  virtual bool gaussian_posterior() const { return true; }

 protected:
  // The model's parts a kind builds on (it is the model's friend; these are its only doors).
  using Layer = typename Model::Layer;
  using Rows = typename Model::Rows;
  struct Tensors {
    size_t mu, logvar, eps, z;  // acts offsets: the heads on x (B, ·), ε and z (R, Z)
  };
  static const ModelConfig& cfg(const Model& m) { return m.cfg_; }
  static Tensors at(const Model& m) { return {m.mu_, m.logvar_, m.eps_, m.z_}; }
  static T* acts(Model& m) { return m.acts_.data(); }
  static const T* acts(const Model& m) { return m.acts_.data(); }
  static T* dacts(Model& m) { return m.dacts_.data(); }
  static T* params(Model& m) { return m.pdata(); }
  static T* grads(Model& m) { return m.grads_.data(); }
  static size_t prior_params(const Model& m) { return m.prior_params_; }
  static size_t lk_params(const Model& m) { return m.lk_params_; }
  static size_t sample_rows(const Model& m) { return m.slot_rows(Rows::Samples); }
  static size_t add_slot(Model& m, size_t width, Rows rows) { return m.add_slot(width, rows); }
  static size_t place_stack(Model& m, const std::vector<PlannedLayer>& planned, size_t in,
                            Rows rows, std::vector<Layer>& stack) {
    return m.place_stack(planned, in, rows, stack);
  }
  static void place_heads(Model& m, const PlannedLayer& mu, const PlannedLayer& logvar,
                          size_t features, Rows rows, Layer& mu_head, Layer& lv_head) {
    m.place_heads(mu, logvar, features, rows, mu_head, lv_head);
  }
  static void gradient_final(Model& m, size_t lo, size_t hi) { m.gradient_final(lo, hi); }
  /// A stack whose first layer reads x (B, D), forward and backward (no input gradient; each
  /// parameter slice reported final); x_stack_place places it.
  static size_t x_stack_place(Model& m, const std::vector<PlannedLayer>& planned,
                              std::vector<Layer>& stack) {
    return m.place_stack(planned, Model::kX, Rows::Batch, stack);
  }
  static void x_stack_forward(Model& m, const std::vector<Layer>& stack, const T* x, int B) {
    for (const Layer& l : stack) m.layer_forward(l, x, B, &m.default_label_, 1);
  }
  static void x_stack_backward(Model& m, const std::vector<Layer>& stack, const T* x, int B) {
    m.stack_backward(stack, x, B, true);
  }
  /// [lo, hi) appended to out unless empty; a stack's layers from the last back; a stack with
  /// its heads in stack_heads_backward's order.
  static void add_range(std::vector<GradRange>& out, size_t lo, size_t hi);
  static void add_stack_ranges(std::vector<GradRange>& out, const std::vector<Layer>& stack);
  static void add_stack_heads_ranges(std::vector<GradRange>& out, const std::vector<Layer>& stack,
                                     const Layer& mu, const Layer& lv);
  /// A stack and its μ, log σ² heads on `rows` rows of the tensor its first layer reads (not x),
  /// and the same in reverse: from the heads' gradients into the parameters' (each slice
  /// reported final) and the input's.
  static void stack_heads_forward(Model& m, const std::vector<Layer>& stack, const Layer& mu,
                                  const Layer& lv, int rows);
  static void stack_heads_backward(Model& m, const std::vector<Layer>& stack, const Layer& mu,
                                   const Layer& lv, int rows);
  /// z_k = μ + σ ⊙ ε_k for the K samples of B examples, and its backward: dz into dμ, dlog σ².
  static void reparam_samples_forward(Model& m, int B, int K);
  static void reparam_samples_backward(Model& m, int B, int K);
};

/// One row of the table: a latent structure and the configurations it serves.
struct LatentRow {
  const char* name;                        ///< "standard", "vamp", "hierarchy"
  bool (*serves)(const ModelConfig& cfg);  ///< whether cfg asks for this structure
  std::unique_ptr<LatentStructure<float>> (*make_f32)(const ModelConfig& cfg);
  std::unique_ptr<LatentStructure<double>> (*make_f64)(const ModelConfig& cfg);
};

/// Every row; exactly one serves each valid configuration.
const std::vector<LatentRow>& latent_table();
/// The row serving cfg (asserts there is one).
const LatentRow& latent_row(const ModelConfig& cfg);
/// A new structure of cfg's row.
template <class T>
std::unique_ptr<LatentStructure<T>> make_latent_structure(const ModelConfig& cfg);

}  // namespace vae
