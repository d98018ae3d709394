// Conv2d and ConvTranspose2d at the shapes of a Fashion-MNIST conv VAE, batch 128:
//   encoder  enc1  Conv2d           1 → 32, 28×28 → 14×14, k4 s2 p1   (first layer: no dx)
//            enc2  Conv2d          32 → 64, 14×14 →  7×7,  k4 s2 p1
//   decoder  dec1  ConvTranspose2d 64 → 32,  7×7  → 14×14, k4 s2 p1
//            dec2  ConvTranspose2d 32 →  1, 14×14 → 28×28, k4 s2 p1
//
//   build/bench/bench_conv [--benchmark_filter=...]        (threads: VAE_THREADS, default 1)
//
// The first argument picks the layer (0-3 above), the second the passes: 0 forward, 1 forward
// and backward. FLOP/s counts 2 flops per multiply-add of the convolution proper (bias and the
// im2col copies not counted): forward 2·MACs, backward 2·MACs for dW and 2·MACs for dx. The
// *Gemm benchmarks run only the GEMM calls each pass makes, at the same shapes on the same
// threads; their time over the layer's time is the GEMM share, and their FLOP/s the ceiling.
// The reference benchmarks time the naive loops the tests hold the fast path to.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <vector>

#include "core/blas.h"
#include "vae/conv.h"
#include "vae/rng.h"
#include "vae/runtime.h"

namespace {

int bench_threads() {
  const char* t = std::getenv("VAE_THREADS");
  return t ? std::atoi(t) : 1;
}

struct Layer {
  const char* name;
  bool transposed;
  bool needs_dx;
  vae::ConvShape shape;
};

constexpr int kBatch = 128;
const Layer kLayers[] = {
    {"enc1 conv 1->32 28x28 k4s2p1", false, false, {kBatch, 1, 28, 28, 32, 4, 2, 1, 0}},
    {"enc2 conv 32->64 14x14 k4s2p1", false, true, {kBatch, 32, 14, 14, 64, 4, 2, 1, 0}},
    {"dec1 convT 64->32 7x7 k4s2p1", true, true, {kBatch, 64, 7, 7, 32, 4, 2, 1, 0}},
    {"dec2 convT 32->1 14x14 k4s2p1", true, true, {kBatch, 32, 14, 14, 1, 4, 2, 1, 0}},
};

int h_out(const Layer& l) {
  return l.transposed ? vae::conv_transpose2d_h_out(l.shape) : vae::conv2d_h_out(l.shape);
}
int w_out(const Layer& l) {
  return l.transposed ? vae::conv_transpose2d_w_out(l.shape) : vae::conv2d_w_out(l.shape);
}

// Multiply-adds of one forward pass: every (input pixel, weight) pair that meets, counted over
// the grid of kernel positions, i.e. N · C_out · C_in · K² · (positions).
double macs(const Layer& l) {
  const vae::ConvShape& s = l.shape;
  const double positions =
      l.transposed ? double(s.H) * s.W : double(vae::conv2d_h_out(s)) * vae::conv2d_w_out(s);
  return double(s.N) * s.C_out * s.C_in * s.K * s.K * positions;
}

double flops(const Layer& l, bool backward) {
  return 2 * macs(l) * (backward ? (l.needs_dx ? 3 : 2) : 1);
}

// Buffers of one layer: x (N, C_in, H, W), W, b (C_out), y and dy (N, C_out, H_out, W_out),
// their gradients and the scratch.
struct Buffers {
  std::vector<float> x, w, b, y, dy, dx, dw, db, scratch;
  explicit Buffers(const Layer& l) {
    const vae::ConvShape& s = l.shape;
    const size_t y_n = size_t(s.N) * s.C_out * h_out(l) * w_out(l);
    x.resize(size_t(s.N) * s.C_in * s.H * s.W);
    w.resize(size_t(s.C_out) * s.C_in * s.K * s.K);
    b.resize(s.C_out);
    vae::Rng rng(1);
    for (auto* v : {&x, &w, &b}) {
      for (float& e : *v) e = rng.uniform_float() - 0.5f;
    }
    y.assign(y_n, 0.f);
    dy.assign(y_n, 0.01f);
    dx.assign(x.size(), 0.f);
    dw.assign(w.size(), 0.f);
    db.assign(b.size(), 0.f);
    scratch.assign(
        l.transposed ? vae::conv_transpose2d_scratch_size(s) : vae::conv2d_scratch_size(s), 0.f);
  }
};

void report(benchmark::State& state, const Layer& l, bool backward) {
  state.SetLabel(l.name);
  state.SetItemsProcessed(state.iterations() * l.shape.N);
  state.counters["FLOP/s"] =
      benchmark::Counter(flops(l, backward) * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["threads"] = vae::num_threads();
}

// The layer's forward, then (second argument 1) its backward, as a training step runs them.
void BM_Conv(benchmark::State& state) {
  vae::set_num_threads(bench_threads());
  const Layer& l = kLayers[state.range(0)];
  const bool backward = state.range(1) != 0;
  const vae::ConvShape& s = l.shape;
  Buffers buf(l);
  float* dx = l.needs_dx ? buf.dx.data() : nullptr;
  for (auto _ : state) {
    if (l.transposed) {
      vae::conv_transpose2d_forward(buf.y.data(), buf.x.data(), buf.w.data(), buf.b.data(), s,
                                    buf.scratch.data());
      if (backward)
        vae::conv_transpose2d_backward(dx, buf.dw.data(), buf.db.data(), buf.dy.data(),
                                       buf.x.data(), buf.w.data(), s, buf.scratch.data());
    } else {
      vae::conv2d_forward(buf.y.data(), buf.x.data(), buf.w.data(), buf.b.data(), s,
                          buf.scratch.data());
      if (backward)
        vae::conv2d_backward(dx, buf.dw.data(), buf.db.data(), buf.dy.data(), buf.x.data(),
                             buf.w.data(), s, buf.scratch.data());
    }
    benchmark::ClobberMemory();
  }
  report(state, l, backward);
}
BENCHMARK(BM_Conv)
    ->ArgsProduct({{0, 1, 2, 3}, {0, 1}})
    ->ArgNames({"layer", "backward"})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// The same GEMM calls as BM_Conv, per image, on the same shapes and buffers, and nothing else
// (no im2col/col2im, no bias).
//   Conv2d           forward   y_n  (C_out, HWo)    = W (C_out, CKK) · col (CKK, HWo)
//                    backward  dW   (C_out, CKK)   += dy_n · colᵀ;  col = Wᵀ · dy_n
//   ConvTranspose2d  forward   col  (C_out·KK, HW)  = Wᵀ (C_out·KK, C_in) · x_n (C_in, HW)
//                    backward  dW   (C_in, C_out·KK) += x_n · colᵀ;  dx_n += W · col
void BM_ConvGemm(benchmark::State& state) {
  vae::set_num_threads(bench_threads());
  const Layer& l = kLayers[state.range(0)];
  const bool backward = state.range(1) != 0;
  const vae::ConvShape& s = l.shape;
  Buffers buf(l);
  const int KK = s.K * s.K;
  const int HWo = h_out(l) * w_out(l), HW = s.H * s.W;
  const size_t x_image = size_t(s.C_in) * HW, y_image = size_t(s.C_out) * HWo;
  float* col = buf.scratch.data();
  for (auto _ : state) {
    for (int n = 0; n < s.N; ++n) {
      const float* xn = buf.x.data() + n * x_image;
      float* yn = buf.y.data() + n * y_image;
      const float* dyn = buf.dy.data() + n * y_image;
      if (l.transposed) {
        const int OKK = s.C_out * KK;
        vae::gemm<float>(true, false, OKK, HW, s.C_in, 1.f, buf.w.data(), OKK, xn, HW, 0.f, col,
                         HW);
        if (!backward) continue;
        vae::gemm<float>(false, true, s.C_in, OKK, HW, 1.f, xn, HW, col, HW, 1.f, buf.dw.data(),
                         OKK);
        vae::gemm<float>(false, false, s.C_in, HW, OKK, 1.f, buf.w.data(), OKK, col, HW, 1.f,
                         buf.dx.data() + n * x_image, HW);
      } else {
        const int CKK = s.C_in * KK;
        vae::gemm<float>(false, false, s.C_out, HWo, CKK, 1.f, buf.w.data(), CKK, col, HWo, 1.f, yn,
                         HWo);
        if (!backward) continue;
        vae::gemm<float>(false, true, s.C_out, CKK, HWo, 1.f, dyn, HWo, col, HWo, 1.f,
                         buf.dw.data(), CKK);
        if (l.needs_dx)
          vae::gemm<float>(true, false, CKK, HWo, s.C_out, 1.f, buf.w.data(), CKK, dyn, HWo, 0.f,
                           col, HWo);
      }
    }
    benchmark::ClobberMemory();
  }
  report(state, l, backward);
}
BENCHMARK(BM_ConvGemm)
    ->ArgsProduct({{0, 1, 2, 3}, {0, 1}})
    ->ArgNames({"layer", "backward"})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// The naive loops, forward only.
void BM_ConvReference(benchmark::State& state) {
  const Layer& l = kLayers[state.range(0)];
  Buffers buf(l);
  for (auto _ : state) {
    if (l.transposed)
      vae::conv_transpose2d_reference_forward(buf.y.data(), buf.x.data(), buf.w.data(),
                                              buf.b.data(), l.shape);
    else
      vae::conv2d_reference_forward(buf.y.data(), buf.x.data(), buf.w.data(), buf.b.data(),
                                    l.shape);
    benchmark::ClobberMemory();
  }
  report(state, l, false);
}
BENCHMARK(BM_ConvReference)
    ->DenseRange(0, 3)
    ->ArgName("layer")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
