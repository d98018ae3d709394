// The float hot loops outside GEMM, compiled once per instruction set and chosen at run time.
// Optimiser (Adam, the gradient norm), activations (ReLU) and likelihoods (Bernoulli and fixed-σ
// Gaussian: the per-row sums of the forward, the backward, the decoder mean).
//
// The build targets baseline x86-64 (no -march=native unless VAE_NATIVE=ON); the loops that
// matter are compiled three times from one source (core/kernels_impl.h): for baseline x86-64
// (kernels_baseline.cpp), AVX2 + FMA (kernels_avx2.cpp) and AVX-512 (kernels_avx512.cpp), each
// file with its own compiler flags (CMakeLists.txt). best() picks the widest table the CPU and
// the OS support, once, by CPU feature detection; supported() lists every table this CPU can run
// (tests/core/kernels_test.cpp holds each to the reference loops). The ISA files hold only the
// loops, in their own namespaces, and call no inline library function, so that no AVX-512 copy
// of a shared inline function can be picked by the linker for code outside them.
//
// The tables compute the same operations in the same order, and the files are compiled without
// floating-point contraction (-ffp-contract=off): their results are bit-identical.
#pragma once

#include <cstddef>
#include <vector>

namespace vae::kernels {

/// Adam's constants for the current step (optim/adam.h): β₁, β₂, ε, lr / (1 − β₁ᵗ),
/// 1 / √(1 − β₂ᵗ).
struct AdamStep {
  float b1, b2, eps, step_size, inv_sqrt_bc2;
  float decay = 1;  ///< 1 − lr·λ of AdamW's decoupled weight decay (1 = plain Adam)
};

struct Table {
  const char* isa;  ///< "avx512", "avx2" or "baseline"
  /// Adam::update_reduced for float over [lo, hi): g = Σ_p weights[p]·grads[p][i], Adam on
  /// (params, m, v), grads zeroed when zero_grads; returns Σ g² (double, fixed order).
  double (*adam_reduced)(const AdamStep& s, float* params, float* m, float* v,
                         float* const* grads, const float* weights, int parts, size_t lo,
                         size_t hi, bool zero_grads);
  /// Σ g² in double (32 lanes, fixed order).
  double (*sum_squares)(const float* g, size_t n);
  /// y = max(a, 0) and da += (a > 0 ? dy : 0), over n elements.
  void (*relu_forward)(float* y, const float* a, size_t n);
  void (*relu_backward)(float* da, const float* dy, const float* a, size_t n);

  // The likelihoods' float loops (formulas in model/losses.h, whose double versions are the
  // reference). Row sums run in 16 float lanes, folded in a fixed order.
  /// One row of the Bernoulli NLL: Σ_j softplus(l_j) − x_j·l_j over n values.
  float (*bernoulli_nll_row)(const float* logits, const float* x, size_t n);
  /// dlogits += scale · (σ(l) − x), over n elements.
  void (*bernoulli_nll_backward)(float* dlogits, const float* logits, const float* x, float scale,
                                 size_t n);
  /// y = σ(l) over n elements (the Bernoulli decoder mean, the gate of a gated layer); y may
  /// alias l.
  void (*sigmoid)(float* y, const float* l, size_t n);
  /// One row of the Gaussian NLL's squares: Σ_j (x_j − m_j)² over n values.
  float (*squared_error_row)(const float* mean, const float* x, size_t n);
  /// dmean += k · (m − x), over n elements (k = scale / σ²).
  void (*squared_error_backward)(float* dmean, const float* mean, const float* x, float k,
                                 size_t n);
};

/// The widest table this CPU runs (chosen on first call).
const Table& best();
/// Every table this CPU runs, baseline first.
std::vector<const Table*> supported();

// The tables themselves (kernels_<isa>.cpp).
extern const Table kBaseline, kAvx2, kAvx512;

}  // namespace vae::kernels
