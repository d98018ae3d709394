// Matrix products, row-major, in the shape of CBLAS's ?gemm:
//   C(M,N) = alpha * op(A) * op(B) + beta * C,  op(A) is (M,K), op(B) is (K,N),
//   op(X) = X or Xᵀ per trans flag; lda/ldb/ldc are row strides of the stored matrices.
// gemm<float> calls oneDNN's dnnl_sgemm (the default build, VAE_GEMM=onednn) or OpenBLAS's
// cblas_sgemm (VAE_GEMM=openblas); gemm<double> always calls cblas_dgemm (the gradient checks run
// the same model code in double). Both follow set_num_threads, and run single-threaded inside a
// ScopedSerialBlas (core/pool.h). gemm_reference is the naive triple loop that the tests hold
// both paths to.
#pragma once

#include <cstddef>

namespace vae {

/// "onednn" or "openblas": what gemm<float> runs on in this build.
const char* gemm_float_backend();

template <class T>
void gemm(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda,
          const T* B, int ldb, T beta, T* C, int ldc);

template <class T>
void gemm_reference(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda,
                    const T* B, int ldb, T beta, T* C, int ldc);

}  // namespace vae
