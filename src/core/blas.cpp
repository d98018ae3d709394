#include "core/blas.h"

#include <cblas.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#ifdef VAE_GEMM_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>
#endif

#include "core/pool.h"
#include "vae/error.h"
#include "vae/runtime.h"

namespace vae {

// A product with one row or one column is a matrix-vector product. OpenBLAS's gemm packs both
// operands even then — for a single example through the default model that copy of the weights
// costs ~10x the arithmetic — so those shapes go to gemv, which streams the matrix once.
//   M = 1:  C (1,N) = α op(A) (1,K) · op(B) (K,N) + β C  →  Cᵀ = α op(B)ᵀ a + β Cᵀ
//   N = 1:  C (M,1) = α op(A) (M,K) · op(B) (K,1) + β C  →  c  = α op(A) b + β c
template <class T, class Gemv>
bool as_gemv(Gemv gemv, bool ta, bool tb, int M, int N, int K, T alpha, const T* A, int lda,
             const T* B, int ldb, T beta, T* C, int ldc) {
  if (M == 1) {
    const int inc_a = ta ? lda : 1;  // the single row of op(A)
    // op(B) (K,N): B itself (K,N) when !tb, so Cᵀ = Bᵀ a; B (N,K) when tb, so Cᵀ = B a.
    if (tb)
      gemv(CblasRowMajor, CblasNoTrans, N, K, alpha, B, ldb, A, inc_a, beta, C, 1);
    else
      gemv(CblasRowMajor, CblasTrans, K, N, alpha, B, ldb, A, inc_a, beta, C, 1);
    return true;
  }
  if (N == 1) {
    const int inc_b = tb ? 1 : ldb;  // the single column of op(B)
    if (ta)
      gemv(CblasRowMajor, CblasTrans, K, M, alpha, A, lda, B, inc_b, beta, C, ldc);
    else
      gemv(CblasRowMajor, CblasNoTrans, M, K, alpha, A, lda, B, inc_b, beta, C, ldc);
    return true;
  }
  return false;
}

namespace {

// Threads. One count, g_threads (set_num_threads), for every library; g_serial > 0 while a
// ScopedSerialBlas is alive: then each caller's products run on that caller's thread alone.
int g_threads = 0;
std::atomic<int> g_serial{0};

#ifdef VAE_GEMM_ONEDNN
// oneDNN (Debian's build) would split each product over OpenMP's threads, whose waits spin: on a
// machine shared with other work a spinning team turns a 7 ms product into hundreds (measured,
// docs/performance.md). So oneDNN runs single-threaded on every thread that calls it, and the
// products that are worth it are split by rows (or columns) over the project's own pool below:
// one thread budget, one pool, no OpenMP team.
void onednn_serial_here() {
  thread_local bool set = false;
  if (!set) {
    omp_set_num_threads(1);
    set = true;
  }
}

void sgemm_serial(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
                  const float* B, int ldb, float beta, float* C, int ldc) {
  onednn_serial_here();
  const dnnl_status_t st = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B,
                                      ldb, beta, C, ldc);
  VAE_ASSERT(st == dnnl_success);
}

// The pool that splits products when set_num_threads(n > 1) and no ScopedSerialBlas is alive
// (evaluation passes, single examples: the caller waits for the product). Made on first use,
// remade when the count changes; one product at a time (a second caller runs serially).
std::mutex g_split_mu;
std::unique_ptr<WorkerPool> g_split_pool;

// Below this many multiply-adds a product runs on the caller alone: waking the pool (tens of
// µs) would cost more than it saves.
constexpr double kMinSplitMacs = 1 << 20;

// Whether a product is split over the pool: more than one thread, no ScopedSerialBlas alive, and
// enough work.
bool split_worth(int M, int N, int K) {
  const int T = num_threads();
  return T >= 2 && g_serial.load(std::memory_order_relaxed) == 0 &&
         static_cast<double>(M) * N * K >= kMinSplitMacs && std::max(M, N) >= 2 * T;
}

// C (M,N) over T threads: the longer of M and N cut into T contiguous blocks, each its own
// product of op(A)'s rows i0..i1 (or op(B)'s columns j0..j1) into the matching part of C.
bool sgemm_split(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
                 const float* B, int ldb, float beta, float* C, int ldc) {
  if (!split_worth(M, N, K)) return false;
  const int T = num_threads();
  std::unique_lock<std::mutex> lock(g_split_mu, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  if (!g_split_pool || g_split_pool->size() != T) g_split_pool = std::make_unique<WorkerPool>(T);
  const bool by_rows = M >= N;
  const int L = by_rows ? M : N;
  g_split_pool->run([&](int t) {
    const int lo = static_cast<int>(static_cast<long>(L) * t / T);
    const int hi = static_cast<int>(static_cast<long>(L) * (t + 1) / T);
    if (by_rows)
      sgemm_serial(ta, tb, hi - lo, N, K, alpha, ta ? A + lo : A + static_cast<size_t>(lo) * lda,
                   lda, B, ldb, beta, C + static_cast<size_t>(lo) * ldc, ldc);
    else
      sgemm_serial(ta, tb, M, hi - lo, K, alpha, A, lda,
                   tb ? B + static_cast<size_t>(lo) * ldb : B + lo, ldb, beta, C + lo, ldc);
  });
  return true;
}

// oneDNN's matmul primitive for gemm_bias: C (M,N) = A (M,K) · Wᵀ (K,N) + bias (1,N) broadcast.
// Wᵀ is W (N,K) row-major read through the "ba" layout, so nothing is copied. Creating a
// primitive JIT-compiles its kernels (milliseconds), so each thread keeps one per shape, with
// memory objects whose data pointers are set at each call; the engine lives as long as the
// process. oneDNN's own process-wide primitive cache is switched off when the engine is made:
// the per-thread caches below already keep every primitive, and threads that make primitives
// at once then share no state through it (ThreadSanitizer reports oneDNN's cache lookups racing
// with another thread's insertion).
const dnnl::engine& cpu_engine() {
  static const dnnl::engine* engine = [] {
    dnnl::set_primitive_cache_capacity(0);
    return new dnnl::engine(dnnl::engine::kind::cpu, 0);
  }();
  return *engine;
}

// Below this many rows the primitive is slower than dnnl_sgemm's matrix-vector path (one row
// through the default model's forward maps: 106 against 42 µs; equal at 8 and 16 rows, faster
// at 20 and 128: docs/performance.md), so fewer rows take the Sgemm path.
constexpr int kMinPrimitiveRows = 16;
// Primitives made per thread. A shape met after that many (a server's varying request sizes)
// takes the Sgemm path: no JIT compilation on a hot path after the first few, memory bounded.
constexpr size_t kMaxCachedMatmuls = 64;

struct BiasMatmul {
  dnnl::matmul prim;
  dnnl::memory src, wei, bias, dst;
};

BiasMatmul make_bias_matmul(int M, int N, int K) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  const dnnl::engine& eng = cpu_engine();
  const dnnl::memory::desc src({M, K}, dt::f32, tag::ab);   // A (M,K)
  const dnnl::memory::desc wei({K, N}, dt::f32, tag::ba);   // Wᵀ (K,N), stored as W (N,K)
  const dnnl::memory::desc bias({1, N}, dt::f32, tag::ab);  // bias (1,N)
  const dnnl::memory::desc dst({M, N}, dt::f32, tag::ab);   // C (M,N)
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, bias, dst), eng);
  return {dnnl::matmul(pd), dnnl::memory(src, eng, DNNL_MEMORY_NONE),
          dnnl::memory(wei, eng, DNNL_MEMORY_NONE), dnnl::memory(bias, eng, DNNL_MEMORY_NONE),
          dnnl::memory(dst, eng, DNNL_MEMORY_NONE)};
}

// false (nothing done) when the thread already holds kMaxCachedMatmuls other shapes.
bool matmul_bias_serial(int M, int N, int K, const float* A, const float* W, const float* bias,
                        float* C) {
  onednn_serial_here();
  thread_local std::map<std::array<int, 3>, BiasMatmul> cache;
  thread_local dnnl::stream stream(cpu_engine());
  auto it = cache.find({M, N, K});
  if (it == cache.end()) {
    if (cache.size() >= kMaxCachedMatmuls) return false;
    it = cache.emplace(std::array<int, 3>{M, N, K}, make_bias_matmul(M, N, K)).first;
  }
  BiasMatmul& mm = it->second;
  mm.src.set_data_handle(const_cast<float*>(A));
  mm.wei.set_data_handle(const_cast<float*>(W));
  mm.bias.set_data_handle(const_cast<float*>(bias));
  mm.dst.set_data_handle(C);
  mm.prim.execute(stream, {{DNNL_ARG_SRC, mm.src},
                           {DNNL_ARG_WEIGHTS, mm.wei},
                           {DNNL_ARG_BIAS, mm.bias},
                           {DNNL_ARG_DST, mm.dst}});
  stream.wait();
  return true;
}
#endif

FloatMatmul matmul_from_env() {
  const char* v = std::getenv("VAE_MATMUL");
  return v && std::string(v) == "sgemm" ? FloatMatmul::Sgemm : FloatMatmul::Primitive;
}

std::atomic<FloatMatmul>& float_matmul_setting() {
  static std::atomic<FloatMatmul> setting{matmul_from_env()};
  return setting;
}

// C (M,N) = bias rows, then C += A · Wᵀ through gemm<T> (β = 1).
template <class T>
void gemm_bias_rows(int M, int N, int K, const T* A, const T* W, const T* bias, T* C) {
  for (int r = 0; r < M; ++r) std::memcpy(C + static_cast<size_t>(r) * N, bias, sizeof(T) * N);
  gemm<T>(false, true, M, N, K, T(1), A, K, W, K, T(1), C, N);
}

}  // namespace

void set_float_matmul(FloatMatmul m) {
#ifndef VAE_GEMM_ONEDNN
  m = FloatMatmul::Sgemm;
#endif
  float_matmul_setting().store(m, std::memory_order_relaxed);
}

FloatMatmul float_matmul() {
#ifdef VAE_GEMM_ONEDNN
  return float_matmul_setting().load(std::memory_order_relaxed);
#else
  return FloatMatmul::Sgemm;
#endif
}

const char* gemm_float_backend() {
#ifdef VAE_GEMM_ONEDNN
  return "onednn";
#else
  return "openblas";
#endif
}

template <>
void gemm<float>(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
                 const float* B, int ldb, float beta, float* C, int ldc) {
#ifdef VAE_GEMM_ONEDNN
  // oneDNN's sgemm, row-major as here. It packs and dispatches to its JIT kernels for the widest
  // vectors the CPU has (AVX-512 here), and takes the one-row / one-column shapes itself.
  if (M <= 0 || N <= 0) return;
  if (!sgemm_split(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
    sgemm_serial(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
  if (K > 0 && as_gemv<float>(cblas_sgemv, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
    return;
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
              K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

template <>
void gemm<double>(bool ta, bool tb, int M, int N, int K, double alpha, const double* A, int lda,
                  const double* B, int ldb, double beta, double* C, int ldc) {
  if (K > 0 && as_gemv<double>(cblas_dgemv, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
    return;
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
              K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <>
void gemm_bias<float>(int M, int N, int K, const float* A, const float* W, const float* bias,
                      float* C) {
#ifdef VAE_GEMM_ONEDNN
  // A product the split pool would share runs as bias rows + a split gemm (the primitive runs on
  // the calling thread alone), and so does one of few rows (kMinPrimitiveRows) or of a shape
  // past the thread's kMaxCachedMatmuls.
  if (M >= kMinPrimitiveRows && N > 0 && K > 0 && float_matmul() == FloatMatmul::Primitive &&
      !split_worth(M, N, K) && matmul_bias_serial(M, N, K, A, W, bias, C))
    return;
#endif
  gemm_bias_rows(M, N, K, A, W, bias, C);
}

template <>
void gemm_bias<double>(int M, int N, int K, const double* A, const double* W, const double* bias,
                       double* C) {
  gemm_bias_rows(M, N, K, A, W, bias, C);
}

template <class T>
void gemm_reference(bool ta, bool tb, int M, int N, int K, T alpha, const T* A, int lda,
                    const T* B, int ldb, T beta, T* C, int ldc) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double acc = 0;
      for (int k = 0; k < K; ++k) {
        const T a = ta ? A[k * lda + i] : A[i * lda + k];
        const T b = tb ? B[j * ldb + k] : B[k * ldb + j];
        acc += static_cast<double>(a) * b;
      }
      T& c = C[i * ldc + j];
      c = static_cast<T>(alpha * acc + (beta == T(0) ? T(0) : beta * c));
    }
}
template void gemm_reference<float>(bool, bool, int, int, int, float, const float*, int,
                                    const float*, int, float, float*, int);
template void gemm_reference<double>(bool, bool, int, int, int, double, const double*, int,
                                     const double*, int, double, double*, int);

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

void set_num_threads(int n) {
  g_threads = n > 0 ? n : hardware_threads();
  openblas_set_num_threads(g_threads);
}

int num_threads() { return g_threads > 0 ? g_threads : openblas_get_num_threads(); }

ScopedSerialBlas::ScopedSerialBlas() : saved_(num_threads()) {
  openblas_set_num_threads(1);
  ++g_serial;
}
ScopedSerialBlas::~ScopedSerialBlas() {
  --g_serial;
  openblas_set_num_threads(saved_);
}

}  // namespace vae
