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

/// The dense layer's product: C (M,N) = A (M,K) · W (N,K)ᵀ + 1 biasᵀ, bias (N) added to every row;
/// all rows contiguous (lda = K, ldb = K, ldc = N). Overwrites C. The Sgemm path writes the bias
/// rows into C and runs gemm<T> with β = 1 (always for double); the Primitive path (oneDNN builds,
/// float, M ≥ 16 rows, a product that runs on the calling thread alone) runs oneDNN's matmul
/// primitive with the bias fused, one primitive cached per (M, N, K) on each calling thread.
template <class T>
void gemm_bias(int M, int N, int K, const T* A, const T* W, const T* bias, T* C);

/// How gemm_bias<float> runs. The default is Primitive; the environment variable VAE_MATMUL=sgemm
/// makes it Sgemm ("primitive" or unset: Primitive). An OpenBLAS build has only Sgemm:
/// set_float_matmul(Primitive) leaves it there, and float_matmul() says what runs.
enum class FloatMatmul { Sgemm, Primitive };
void set_float_matmul(FloatMatmul m);
FloatMatmul float_matmul();

template <class T>
void gemm_reference(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda,
                    const T* B, int ldb, T beta, T* C, int ldc);

}  // namespace vae
