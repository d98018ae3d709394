// Matrix products, row-major, in the shape of CBLAS's ?gemm:
//   C(M,N) = alpha * op(A) * op(B) + beta * C,  op(A) is (M,K), op(B) is (K,N),
//   op(X) = X or Xᵀ per trans flag; lda/ldb/ldc are row strides of the stored matrices.
// gemm<float> calls cblas_sgemm, gemm<double> calls cblas_dgemm (the gradient checks run the
// same model code in double). gemm_reference is the naive triple loop that the tests hold the
// BLAS path to.
#pragma once

#include <cstddef>

namespace vae {

template <class T>
void gemm(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda,
          const T* B, int ldb, T beta, T* C, int ldc);

template <class T>
void gemm_reference(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda,
                    const T* B, int ldb, T beta, T* C, int ldc);

}  // namespace vae
