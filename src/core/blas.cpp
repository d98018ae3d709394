#include "core/blas.h"

#include <cblas.h>

#include <thread>

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

template <>
void gemm<float>(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
                 const float* B, int ldb, float beta, float* C, int ldc) {
  if (K > 0 && as_gemv<float>(cblas_sgemv, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
    return;
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
              K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <>
void gemm<double>(bool ta, bool tb, int M, int N, int K, double alpha, const double* A, int lda,
                  const double* B, int ldb, double beta, double* C, int ldc) {
  if (K > 0 && as_gemv<double>(cblas_dgemv, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
    return;
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
              K, alpha, A, lda, B, ldb, beta, C, ldc);
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

namespace {
int g_threads = 0;
}

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

void set_num_threads(int n) {
  g_threads = n > 0 ? n : hardware_threads();
  openblas_set_num_threads(g_threads);
}

int num_threads() { return g_threads > 0 ? g_threads : openblas_get_num_threads(); }

ScopedSerialBlas::ScopedSerialBlas() : saved_(num_threads()) { openblas_set_num_threads(1); }
ScopedSerialBlas::~ScopedSerialBlas() { openblas_set_num_threads(saved_); }

}  // namespace vae
