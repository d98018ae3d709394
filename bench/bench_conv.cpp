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
// *Gemm benchmarks run only the GEMM calls each pass makes, at the same grouped shapes (one GEMM
// per pass for a group of images, as src/nn/conv.cpp) on the same threads; their time over the
// layer's time is the GEMM share, and their FLOP/s the ceiling. BM_ConvModelGemmCeiling runs
// every GEMM of one training step of the whole conv preset (these four layers and its dense
// layers): its items_per_second is the examples/s `vae train --arch conv` would reach if
// everything but GEMM were free.
// The reference benchmarks time the naive loops the tests hold the fast path to.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string>
#include <vector>

#include "core/blas.h"
#include "nn/conv.h"
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
  // conv_gemms's own: fixed inputs (the scratch's layout, random values) and an output area of
  // the same size, so that no product reads another's output (no drift to inf or denormals).
  std::vector<float> fixed, out;
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
    fixed.resize(scratch.size());
    for (float& e : fixed) e = rng.uniform_float() - 0.5f;
    out.assign(scratch.size(), 0.f);
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

// Images per group and the column matrix's row stride, as conv.cpp lowers a layer: the column
// matrices of G images sit side by side, col (rows, ld) with ld = G·plane, plane the
// kernel-position grid (Conv2d: its output H_out·W_out; ConvTranspose2d: its input H·W). G is
// read back from the public scratch size (rows·ld + channels·ld + padded image,
// src/nn/conv.h), so these benchmarks follow the library's group size (about 2048 columns)
// without restating it.
struct Grouping {
  int G;       // images per group
  int plane;   // columns per image
  size_t ld;   // G·plane
  size_t col;  // elements of the column matrix (rows·ld); the reordered copy follows it
};

Grouping grouping(const Layer& l) {
  const vae::ConvShape& s = l.shape;
  const int KK = s.K * s.K;
  const int plane = l.transposed ? s.H * s.W : h_out(l) * w_out(l);
  const int rows = l.transposed ? s.C_out * KK : s.C_in * KK;  // col's rows
  const int reordered = l.transposed ? s.C_in : s.C_out;       // the reordered copy's rows
  const size_t pad = s.P == 0       ? 0
                     : l.transposed ? size_t(s.C_out) * (h_out(l) + 2 * s.P) * (w_out(l) + 2 * s.P)
                                    : size_t(s.C_in) * (s.H + 2 * s.P) * (s.W + 2 * s.P);
  const size_t total =
      l.transposed ? vae::conv_transpose2d_scratch_size(s) : vae::conv2d_scratch_size(s);
  const size_t per_image = size_t(rows + reordered) * plane;
  if (total < pad || (total - pad) % per_image != 0) {
    std::fprintf(stderr, "bench_conv: %s: the scratch layout of src/nn/conv.cpp changed\n", l.name);
    std::abort();
  }
  const int G = int((total - pad) / per_image);
  return {G, plane, size_t(G) * plane, size_t(rows) * G * plane};
}

// The GEMMs one pass of layer l makes over a batch, group by group, on the layer's own buffers
// (conv.cpp: conv2d_forward/backward, conv_transpose2d_forward/backward), and nothing else:
// no im2col/col2im, no reordering copies, no bias.
//   Conv2d           forward   re (C_out, g·plane)   = W (C_out, CKK) · col (CKK, g·plane)
//                    backward  dW (C_out, CKK)      += re · colᵀ;   col = Wᵀ · re   (if dx)
//   ConvTranspose2d  forward   col (OKK, g·plane)    = Wᵀ (OKK, C_in) · re (C_in, g·plane)
//                    backward  dW (C_in, OKK)       += re · colᵀ;   re = W · col    (if dx)
// with g = G except in the last group, col's rows ld = G·plane apart and re's g·plane apart.
void conv_gemms(const Layer& l, const Grouping& gr, Buffers& buf, bool backward) {
  const vae::ConvShape& s = l.shape;
  const int KK = s.K * s.K, ld = int(gr.ld);
  // col / re: the scratch's column matrix and the layer-side matrix; reads from the fixed
  // inputs, writes to the output area (same layout).
  const float* col = buf.fixed.data();
  const float* re = col + gr.col;
  float* col_out = buf.out.data();
  float* re_out = col_out + gr.col;
  for (int n0 = 0; n0 < s.N; n0 += gr.G) {
    const int cols = std::min(gr.G, s.N - n0) * gr.plane;
    if (l.transposed) {
      const int OKK = s.C_out * KK;
      vae::gemm<float>(true, false, OKK, cols, s.C_in, 1.f, buf.w.data(), OKK, re, cols, 0.f,
                       col_out, ld);
      if (!backward) continue;
      vae::gemm<float>(false, true, s.C_in, OKK, cols, 1.f, re, cols, col, ld, 1.f, buf.dw.data(),
                       OKK);
      if (l.needs_dx)
        vae::gemm<float>(false, false, s.C_in, cols, OKK, 1.f, buf.w.data(), OKK, col, ld, 0.f,
                         re_out, cols);
    } else {
      const int CKK = s.C_in * KK;
      vae::gemm<float>(false, false, s.C_out, cols, CKK, 1.f, buf.w.data(), CKK, col, ld, 0.f,
                       re_out, cols);
      if (!backward) continue;
      vae::gemm<float>(false, true, s.C_out, CKK, cols, 1.f, re, cols, col, ld, 1.f, buf.dw.data(),
                       CKK);
      if (l.needs_dx)
        vae::gemm<float>(true, false, CKK, cols, s.C_out, 1.f, buf.w.data(), CKK, re, cols, 0.f,
                         col_out, ld);
    }
  }
}

// The same GEMM calls as BM_Conv, on the same grouped shapes and buffers, and nothing else.
// The label gives the group: G images, G·plane columns.
void BM_ConvGemm(benchmark::State& state) {
  vae::set_num_threads(bench_threads());
  const Layer& l = kLayers[state.range(0)];
  const bool backward = state.range(1) != 0;
  Buffers buf(l);
  const Grouping gr = grouping(l);
  for (auto _ : state) {
    conv_gemms(l, gr, buf, backward);
    benchmark::ClobberMemory();
  }
  report(state, l, backward);
  state.SetLabel(std::string(l.name) + ", group " + std::to_string(gr.G) + " x " +
                 std::to_string(gr.plane) + " = " + std::to_string(gr.ld) + " columns");
}
BENCHMARK(BM_ConvGemm)
    ->ArgsProduct({{0, 1, 2, 3}, {0, 1}})
    ->ArgNames({"layer", "backward"})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// The GEMM ceiling of the whole conv preset (vae train --arch conv, docs/models.md) on
// Fashion-MNIST, batch 128: every matrix product of one training step and nothing else — the
// four conv layers' grouped GEMMs above, forward and backward (enc1 without dx), and the dense
// maps as linear_forward/linear_backward make them, (B,I)·(O,I)ᵀ forward, dW += dyᵀ·x and
// dx += dy·W backward:
//   3136 → 256 (encoder), 256 → 20 twice (μ and log σ² heads), 20 → 256, 256 → 3136 (decoder).
// items_per_second is examples/s at the ceiling: the fastest a training step could go if
// everything but GEMM (im2col, activations, the loss, Adam) were free. FLOP/s counts the GEMMs'
// flops; flop_per_example is the model's GEMM flops per example.
void BM_ConvModelGemmCeiling(benchmark::State& state) {
  vae::set_num_threads(bench_threads());
  const int B = kBatch;  // the layers' shapes above are for this batch
  std::vector<Buffers> bufs;
  std::vector<Grouping> groups;
  double flop = 0;
  for (const Layer& l : kLayers) {
    bufs.emplace_back(l);
    groups.push_back(grouping(l));
    flop += flops(l, true);  // forward + backward
  }
  struct Map {
    int in, out;
  };
  const Map maps[] = {{3136, 256}, {256, 20}, {256, 20}, {20, 256}, {256, 3136}};
  // Fixed inputs (w, x, dy); y, dw and dx are outputs only (dW accumulates fixed terms).
  std::vector<std::vector<float>> w, dw, x, dy, y, dx;
  for (const Map& m : maps) {
    w.emplace_back(size_t(m.in) * m.out, 0.01f);
    dw.emplace_back(size_t(m.in) * m.out, 0.0f);
    x.emplace_back(size_t(B) * m.in, 0.5f);
    dy.emplace_back(size_t(B) * m.out, 0.25f);
    y.emplace_back(size_t(B) * m.out, 0.0f);
    dx.emplace_back(size_t(B) * m.in, 0.0f);
  }
  double dense_flop = 0;
  for (const Map& m : maps) dense_flop += 2.0 * B * m.in * m.out * 3;
  for (auto _ : state) {
    for (size_t k = 0; k < std::size(kLayers); ++k)
      conv_gemms(kLayers[k], groups[k], bufs[k], true);
    for (size_t k = 0; k < std::size(maps); ++k) {
      const Map& m = maps[k];
      vae::gemm<float>(false, true, B, m.out, m.in, 1.f, x[k].data(), m.in, w[k].data(), m.in, 0.f,
                       y[k].data(), m.out);
      vae::gemm<float>(true, false, m.out, m.in, B, 1.f, dy[k].data(), m.out, x[k].data(), m.in,
                       1.f, dw[k].data(), m.in);
      vae::gemm<float>(false, false, B, m.in, m.out, 1.f, dy[k].data(), m.out, w[k].data(), m.in,
                       0.f, dx[k].data(), m.in);
    }
    benchmark::ClobberMemory();
  }
  const double total = flop + dense_flop;
  state.SetItemsProcessed(state.iterations() * B);
  state.counters["FLOP/s"] =
      benchmark::Counter(total * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["flop_per_example"] = total / B;
  state.counters["threads"] = vae::num_threads();
}
BENCHMARK(BM_ConvModelGemmCeiling)->Unit(benchmark::kMillisecond)->UseRealTime();

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
