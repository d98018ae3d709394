// Training-step throughput of the default model (784-400-20, batch 128 unless given), and the
// GEMM ceiling: the same step's matrix products alone, at the same shapes, on the same threads.
//
//   build/bench/bench_train [--benchmark_filter=...]        (threads: VAE_THREADS, default 1)
//
// items_per_second is examples per second. The ceiling benchmark's FLOP/s counter divided by
// the model's FLOPs per example is the fastest a step could go if everything but GEMM were free.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <vector>

#include "core/blas.h"
#include "fma_peak.h"
#include "core/pool.h"
#include "optim/adam.h"
#include "train/data_parallel.h"
#include "vae/checkpoint.h"
#include "vae/dataset.h"
#include "vae/eval.h"
#include "vae/infer.h"
#include "vae/model.h"
#include "vae/rng.h"
#include "vae/runtime.h"

namespace {

int bench_threads() {
  const char* t = std::getenv("VAE_THREADS");
  return t ? std::atoi(t) : 1;
}

// One training step as the trainer takes it (vae::train): ε, zero_grad, forward, backward, the
// gradient norm and Adam, data-parallel over the threads when the batch has kMinRowsPerPart rows
// per thread (train/data_parallel.h), else on BLAS's threads.
void BM_TrainStep(benchmark::State& state) {
  vae::set_num_threads(bench_threads());
  const int B = static_cast<int>(state.range(0));
  vae::ModelConfig cfg;  // 784-400-20, ReLU
  vae::Vae<float> model(cfg, B);
  vae::Adam<float> adam(model.num_params(), vae::AdamConfig{1e-3});
  vae::Rng rng(1);
  model.init_params(rng);
  const int parts = vae::data_parallel_parts(vae::num_threads(), B);
  vae::DataParallel<float> steps(model, parts, B);
  std::optional<vae::ScopedSerialBlas> serial;
  if (parts > 1) serial.emplace();
  std::vector<float> x(static_cast<size_t>(B) * cfg.input_dim), eps(static_cast<size_t>(B) * cfg.latent);
  for (float& v : x) v = rng.uniform_float();
  const auto step = [&] {
    rng.normal_fill(eps.data(), eps.size());
    const auto r = steps.step(x.data(), eps.data(), B, 1, nullptr, false);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(steps.update_fused(adam));
  };
  step();  // one step outside the timing: first touches, and oneDNN's primitives made (VAE_MATMUL)
  for (auto _ : state) step();
  state.SetItemsProcessed(state.iterations() * B);
  state.counters["threads"] = vae::num_threads();
  state.counters["parts"] = parts;
}
BENCHMARK(BM_TrainStep)->Arg(128)->Arg(20)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The matrix products of one step of the default model, nothing else. For each linear map
// (I → O): forward (B,I)·(O,I)ᵀ, backward dW += dyᵀ·x and, except the first layer, dx += dy·W.
struct Map {
  int in, out;
  bool first;
};
constexpr Map kMaps[] = {{784, 400, true}, {400, 20, false}, {400, 20, false}, {20, 400, false}, {400, 784, false}};

std::vector<std::vector<float>> step_weights() {  // W of each map (O, I)
  std::vector<std::vector<float>> w;
  for (const Map& m : kMaps) w.emplace_back(static_cast<size_t>(m.in) * m.out, 0.01f);
  return w;
}

double step_flops(int B) {
  double flops = 0;
  for (const Map& m : kMaps) flops += 2.0 * B * m.in * m.out * (m.first ? 2 : 3);
  return flops;
}

// One worker's buffers for up to `rows` rows: dW, x, dy, y and dx of every map. Inputs (x, dy,
// W) are fixed: no product's output feeds another's input, so values never drift to inf or to
// denormals however long the benchmark runs (dW accumulates fixed terms: it grows linearly).
struct StepGemms {
  std::vector<std::vector<float>> dw, x, dy, y, dx;
  explicit StepGemms(int rows) {
    for (const Map& m : kMaps) {
      dw.emplace_back(static_cast<size_t>(m.in) * m.out, 0.0f);
      x.emplace_back(static_cast<size_t>(rows) * m.in, 0.5f);
      dy.emplace_back(static_cast<size_t>(rows) * m.out, 0.25f);
      y.emplace_back(static_cast<size_t>(rows) * m.out, 0.0f);
      dx.emplace_back(static_cast<size_t>(rows) * m.in, 0.0f);
    }
  }
  void run(int R, const std::vector<std::vector<float>>& w) {  // the products of R rows
    for (size_t k = 0; k < std::size(kMaps); ++k) {
      const Map& m = kMaps[k];
      vae::gemm<float>(false, true, R, m.out, m.in, 1.f, x[k].data(), m.in, w[k].data(), m.in, 0.f, y[k].data(), m.out);
      vae::gemm<float>(true, false, m.out, m.in, R, 1.f, dy[k].data(), m.out, x[k].data(), m.in, 1.f, dw[k].data(), m.in);
      if (!m.first)
        vae::gemm<float>(false, false, R, m.in, m.out, 1.f, dy[k].data(), m.out, w[k].data(), m.in, 0.f, dx[k].data(), m.in);
    }
  }
};

void report_step(benchmark::State& state, int B) {
  state.SetItemsProcessed(state.iterations() * B);
  state.counters["FLOP/s"] = benchmark::Counter(step_flops(B) * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["threads"] = vae::num_threads();
}

// All B rows at once, on BLAS's threads.
void BM_GemmCeiling(benchmark::State& state) {
  vae::set_num_threads(bench_threads());
  const int B = static_cast<int>(state.range(0));
  const auto w = step_weights();
  StepGemms g(B);
  for (auto _ : state) {
    g.run(B, w);
    benchmark::ClobberMemory();
  }
  report_step(state, B);
}
BENCHMARK(BM_GemmCeiling)->Arg(128)->Arg(20)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The step's forward products alone, y = x Wᵀ + b for every map, through gemm_bias on the calling
// thread: Arg(1) 0 is the Sgemm path (bias rows, then dnnl_sgemm with β = 1), 1 oneDNN's matmul
// primitive with the bias fused (vae::FloatMatmul). Fixed inputs, as StepGemms.
void BM_ForwardProducts(benchmark::State& state) {
  vae::set_num_threads(1);
  const int B = static_cast<int>(state.range(0));
  const vae::FloatMatmul saved = vae::float_matmul();
  vae::set_float_matmul(state.range(1) ? vae::FloatMatmul::Primitive : vae::FloatMatmul::Sgemm);
  const auto w = step_weights();
  StepGemms g(B);
  std::vector<std::vector<float>> bias;
  for (const Map& m : kMaps) bias.emplace_back(static_cast<size_t>(m.out), 0.1f);  // b (O)
  const auto forward = [&] {
    for (size_t k = 0; k < std::size(kMaps); ++k)
      vae::gemm_bias<float>(B, kMaps[k].out, kMaps[k].in, g.x[k].data(), w[k].data(), bias[k].data(), g.y[k].data());
  };
  forward();  // the primitives are made (JIT-compiled) outside the timing
  for (auto _ : state) {
    forward();
    benchmark::ClobberMemory();
  }
  vae::set_float_matmul(saved);
  state.SetItemsProcessed(state.iterations() * B);
}
BENCHMARK(BM_ForwardProducts)->Args({128, 0})->Args({128, 1})->Args({20, 0})->Args({20, 1})->Unit(benchmark::kMicrosecond)->UseRealTime();

// The same matrix products split the way the data-parallel step splits them: each of the
// threads runs the products of its ⌈B/threads⌉ rows with single-threaded BLAS, all at once.
// With one thread this is BM_GemmCeiling. The ceiling of a case is the faster of the two.
void BM_GemmCeilingParallel(benchmark::State& state) {
  vae::set_num_threads(bench_threads());
  const int B = static_cast<int>(state.range(0));
  const int T = std::max(1, std::min(vae::num_threads(), B));
  const int rows = (B + T - 1) / T;
  const auto w = step_weights();
  std::vector<StepGemms> parts(static_cast<size_t>(T), StepGemms(rows));
  vae::WorkerPool pool(T);
  vae::ScopedSerialBlas serial;
  for (auto _ : state) {
    pool.run([&](int t) { parts[static_cast<size_t>(t)].run(std::min(rows, B - t * rows), w); });
    benchmark::ClobberMemory();
  }
  report_step(state, B);
}
BENCHMARK(BM_GemmCeilingParallel)->Arg(128)->Arg(20)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The matrix products of `vae eval --iw K` (vae::evaluate_iw): for each importance sample (one
// latent row) the decoder's two maps, (R,20)·(400,20)ᵀ → (R,400) and (R,400)·(784,400)ᵀ →
// (R,784), in passes of R = 4096 rows, each thread running its own passes with single-threaded
// BLAS, as evaluate_iw's workers do. items_per_second counts latent samples; examples/s at K
// samples each is that over K (the encoder's one pass per example is 0.02% of it at K = 5000).
void BM_IwGemmCeiling(benchmark::State& state) {
  vae::set_num_threads(bench_threads());
  const int T = vae::num_threads();
  const int R = 4096, Z = 20, H = 400, D = 784;
  const std::vector<float> w1(static_cast<size_t>(H) * Z, 0.01f), w2(static_cast<size_t>(D) * H, 0.01f);
  struct Part {
    std::vector<float> z, h, out;
  };
  std::vector<Part> parts(static_cast<size_t>(T));
  for (Part& p : parts) {
    p.z.assign(static_cast<size_t>(R) * Z, 0.5f);
    p.h.assign(static_cast<size_t>(R) * H, 0.0f);
    p.out.assign(static_cast<size_t>(R) * D, 0.0f);
  }
  vae::WorkerPool pool(T);
  vae::ScopedSerialBlas serial;
  for (auto _ : state) {
    pool.run([&](int t) {
      Part& p = parts[static_cast<size_t>(t)];
      vae::gemm<float>(false, true, R, H, Z, 1.f, p.z.data(), Z, w1.data(), Z, 0.f, p.h.data(), H);
      vae::gemm<float>(false, true, R, D, H, 1.f, p.h.data(), H, w2.data(), H, 0.f, p.out.data(), D);
    });
    benchmark::ClobberMemory();
  }
  const double flops_per_sample = 2.0 * (Z * H + H * D);
  state.SetItemsProcessed(state.iterations() * R * T);
  state.counters["FLOP/s"] = benchmark::Counter(flops_per_sample * R * T * state.iterations(),
                                                benchmark::Counter::kIsRate);
  state.counters["threads"] = T;
}
BENCHMARK(BM_IwGemmCeiling)->Unit(benchmark::kMillisecond)->UseRealTime();

// `vae eval --iw 5000` itself (vae::evaluate_iw) on the default model: eight images per thread
// (uniform grey levels; 40,000 latent samples, so the workers' set-up is a small part), in decoder passes of range(0) latent rows, on the threads as the command
// runs it: ε, z, the decoder, the likelihood and the log-sum-exp. items_per_second counts latent
// samples, as BM_IwGemmCeiling's does: the ratio of the two is evaluate_iw's % of its ceiling.
void BM_IwEvaluate(benchmark::State& state) {
  vae::set_num_threads(bench_threads());
  const int rows = static_cast<int>(state.range(0)), K = 5000;
  vae::ModelConfig cfg;  // 784-400-20
  vae::Vae<float> model(cfg, 1);
  vae::Rng rng(4);
  model.init_params(rng);
  vae::Dataset data;
  data.n = 8 * static_cast<size_t>(vae::num_threads());
  data.d = static_cast<size_t>(cfg.input_dim);
  data.x.resize(data.n * data.d);
  for (float& v : data.x) v = rng.uniform_float();
  for (auto _ : state) {
    const vae::IwResult r = vae::evaluate_iw(model, data, K, vae::kEvalSeed, {}, rows);
    benchmark::DoNotOptimize(r.log_likelihood);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(data.n) * K);
  state.counters["threads"] = vae::num_threads();
}
BENCHMARK(BM_IwEvaluate)->Arg(128)->Arg(256)->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();

// The FP32 peak of the machine on the threads: each thread runs the register-only FMA loop of
// fma_peak.h at once. FLOP/s is the yardstick of every "% of peak" (scripts/bench.sh's table).
void BM_FmaPeak(benchmark::State& state) {
  vae::set_num_threads(bench_threads());
  const int T = vae::num_threads();
  constexpr int64_t kIters = 1 << 20;
  std::vector<float> sinks(static_cast<size_t>(T));
  std::vector<double> flops(static_cast<size_t>(T), 0.0);
  vae::WorkerPool pool(T);
  for (auto _ : state) {
    pool.run([&](int t) {
      flops[static_cast<size_t>(t)] += vae_bench::fma_loop(kIters, &sinks[static_cast<size_t>(t)]);
    });
    benchmark::DoNotOptimize(sinks.data());
  }
  double total = 0;
  for (double f : flops) total += f;
  state.counters["FLOP/s"] = benchmark::Counter(total, benchmark::Counter::kIsRate);
  state.counters["threads"] = T;
  state.SetLabel(vae_bench::fma_isa());
}
BENCHMARK(BM_FmaPeak)->Unit(benchmark::kMillisecond)->UseRealTime();

// Latency of the library API for one example: encode (μ, log σ²) then decode μ to the decoder
// mean, on a model sized for one row — what an embedding program or a service pays per request.
void BM_EncodeDecodeOne(benchmark::State& state) {
  vae::set_num_threads(bench_threads());
  vae::ModelConfig cfg;  // 784-400-20
  vae::Vae<float> model(cfg, 1);
  vae::Rng rng(3);
  model.init_params(rng);
  std::vector<float> x(cfg.input_dim), mu(cfg.latent), logvar(cfg.latent), out(cfg.input_dim);
  for (float& v : x) v = rng.uniform_float();
  for (auto _ : state) {
    model.encode(x.data(), 1, mu.data(), logvar.data());
    model.decode(mu.data(), 1, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeDecodeOne)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The same through the public inference API (vae/infer.h) on a loaded model with Fashion-MNIST's
// scaling (pixels 0..255 to [0, 1]): the checked views, the scaling in and out and the borrowed
// workspace on top of BM_EncodeDecodeOne.
void BM_EncodeDecodeOneApi(benchmark::State& state) {
  vae::set_num_threads(bench_threads());
  vae::Checkpoint ckpt;  // 784-400-20
  vae::Vae<float> model(ckpt.model, 1);
  vae::Rng rng(3);
  model.init_params(rng);
  ckpt.params.assign(model.params(), model.params() + model.num_params());
  ckpt.scaler.kind = vae::ScalerKind::ZeroOne;
  ckpt.scaler.offset.assign(ckpt.model.input_dim, 0.0f);
  ckpt.scaler.factor.assign(ckpt.model.input_dim, 1.0f / 255);
  const vae::Model m(ckpt);
  const size_t D = m.input_dim(), Z = m.latent();
  std::vector<float> x(D), mu(Z), logvar(Z), out(D);
  for (float& v : x) v = 255 * rng.uniform_float();
  for (auto _ : state) {
    m.encode({x.data(), 1, D}, {mu.data(), 1, Z}, {logvar.data(), 1, Z});
    m.decode({mu.data(), 1, Z}, {out.data(), 1, D});
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeDecodeOneApi)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The floor under BM_EncodeDecodeOne: one example touches every weight once (a matrix-vector
// product per layer), so it cannot beat reading the model's parameters (2.6 MB for the default
// model, more than the L2 caches hold) once. This reads them once per iteration, summing in
// 32 float lanes, on the threads (each its share), with nothing else.
void BM_ReadWeightsOnce(benchmark::State& state) {
  vae::set_num_threads(bench_threads());
  const int T = vae::num_threads();
  vae::ModelConfig cfg;
  vae::Vae<float> model(cfg, 1);
  vae::Rng rng(3);
  model.init_params(rng);
  const size_t n = model.num_params();
  const float* w = model.params();
  std::vector<float> sums(static_cast<size_t>(T));
  vae::WorkerPool pool(T);
  for (auto _ : state) {
    pool.run([&](int t) {
      const size_t lo = n * t / T, hi = n * (t + 1) / T;
      float acc[32] = {};
      size_t i = lo;
      for (; i + 32 <= hi; i += 32)
        for (int j = 0; j < 32; ++j) acc[j] += w[i + j];
      float s = 0;
      for (; i < hi; ++i) s += w[i];
      for (float a : acc) s += a;
      sums[static_cast<size_t>(t)] = s;
    });
    benchmark::DoNotOptimize(sums.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(n * sizeof(float)));
  state.counters["threads"] = T;
}
BENCHMARK(BM_ReadWeightsOnce)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
