// The BLAS path of gemm against the naive reference, for every transpose combination.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/blas.h"
#include "core/pool.h"
#include "vae/rng.h"
#include "vae/runtime.h"

namespace {

template <class T>
void compare(bool ta, bool tb, int M, int N, int K, T tol) {
  vae::Rng rng(7);
  std::vector<T> A(M * K), B(K * N), C(M * N), R(M * N);
  for (auto& v : A) v = static_cast<T>(rng.uniform() - 0.5);
  for (auto& v : B) v = static_cast<T>(rng.uniform() - 0.5);
  for (size_t i = 0; i < C.size(); ++i) C[i] = R[i] = static_cast<T>(rng.uniform());
  const int lda = ta ? M : K, ldb = tb ? K : N;
  vae::gemm<T>(ta, tb, M, N, K, T(0.7), A.data(), lda, B.data(), ldb, T(0.3), C.data(), N);
  vae::gemm_reference<T>(ta, tb, M, N, K, T(0.7), A.data(), lda, B.data(), ldb, T(0.3), R.data(), N);
  for (size_t i = 0; i < C.size(); ++i) ASSERT_NEAR(C[i], R[i], tol) << "at " << i;
}

TEST(Gemm, MatchesReferenceFloat) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) compare<float>(ta, tb, 37, 29, 53, 1e-4f);
}

TEST(Gemm, MatchesReferenceDouble) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) compare<double>(ta, tb, 17, 41, 23, 1e-12);
}

// One row or one column (the gemv path), with leading dimensions wider than the matrices, so a
// wrong stride shows; beta = 0 must ignore what C held (NaN here).
template <class T>
void compare_strided(bool ta, bool tb, int M, int N, int K, T beta, T tol) {
  vae::Rng rng(9);
  const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 5;
  std::vector<T> A((ta ? K : M) * lda), B((tb ? N : K) * ldb), C(M * ldc), R(M * ldc);
  for (auto& v : A) v = static_cast<T>(rng.uniform() - 0.5);
  for (auto& v : B) v = static_cast<T>(rng.uniform() - 0.5);
  for (size_t i = 0; i < C.size(); ++i)
    C[i] = R[i] = beta == T(0) ? std::numeric_limits<T>::quiet_NaN() : static_cast<T>(rng.uniform());
  vae::gemm<T>(ta, tb, M, N, K, T(0.7), A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  vae::gemm_reference<T>(ta, tb, M, N, K, T(0.7), A.data(), lda, B.data(), ldb, beta, R.data(), ldc);
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j)
      ASSERT_NEAR(C[i * ldc + j], R[i * ldc + j], tol) << ta << tb << " M=" << M << " N=" << N
                                                       << " at " << i << "," << j;
}

TEST(Gemm, SingleRowAndSingleColumnMatchTheReference) {
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (auto [M, N] : {std::pair{1, 29}, {37, 1}, {1, 1}})
        for (double beta : {0.0, 0.3}) {
          compare_strided<float>(ta, tb, M, N, 53, static_cast<float>(beta), 1e-4f);
          compare_strided<double>(ta, tb, M, N, 23, beta, 1e-12);
        }
}

// The float backend of this build (oneDNN by default) at the model's shapes, on one thread, split
// over two by the pool (rows when M ≥ N, else columns), and single-threaded inside workers.
TEST(Gemm, FloatBackendMatchesReferenceAtModelShapesOnEveryThreadSetting) {
  const int saved = vae::num_threads();
  struct Shape {
    bool ta, tb;
    int M, N, K;
  };
  const Shape shapes[] = {{false, true, 128, 400, 784}, {true, false, 400, 784, 128},
                          {false, false, 128, 784, 400}, {false, true, 128, 20, 400},
                          {false, true, 3, 700, 600}};
  for (int threads : {1, 2}) {
    vae::set_num_threads(threads);
    for (const Shape& s : shapes) compare<float>(s.ta, s.tb, s.M, s.N, s.K, 2e-3f);
  }
  vae::set_num_threads(2);
  vae::ScopedSerialBlas serial;
  vae::WorkerPool pool(2);
  pool.run([&](int t) { compare<float>(t == 1, false, 128, 400, 300, 2e-3f); });
  vae::set_num_threads(saved);
}

TEST(Gemm, FloatBackendIsNamed) {
  const std::string backend = vae::gemm_float_backend();
  EXPECT_TRUE(backend == "onednn" || backend == "openblas") << backend;
}

// gemm_bias (C = A Wᵀ + bias rows) against gemm_reference plus the bias, C prefilled with NaN so
// an unwritten entry shows.
template <class T>
void compare_bias(int M, int N, int K, T tol) {
  vae::Rng rng(11);
  std::vector<T> A(static_cast<size_t>(M) * K), W(static_cast<size_t>(N) * K), bias(N),
      C(static_cast<size_t>(M) * N, std::numeric_limits<T>::quiet_NaN()), R(C.size());
  for (auto& v : A) v = static_cast<T>(rng.uniform() - 0.5);
  for (auto& v : W) v = static_cast<T>(rng.uniform() - 0.5);
  for (auto& v : bias) v = static_cast<T>(rng.uniform() - 0.5);
  for (int r = 0; r < M; ++r)
    for (int j = 0; j < N; ++j) R[static_cast<size_t>(r) * N + j] = bias[j];
  vae::gemm_bias<T>(M, N, K, A.data(), W.data(), bias.data(), C.data());
  vae::gemm_reference<T>(false, true, M, N, K, T(1), A.data(), K, W.data(), K, T(1), R.data(), N);
  for (size_t i = 0; i < C.size(); ++i)
    ASSERT_NEAR(C[i], R[i], tol) << "M=" << M << " N=" << N << " K=" << K << " at " << i;
}

// Both float paths (the primitive only where the build has oneDNN) at the model's shapes, one
// row, and a second call on the same shape (the cached primitive with new pointers), on one
// thread, two, and inside data-parallel workers (a cache per thread).
TEST(GemmBias, EveryFloatPathMatchesTheReference) {
  const int saved = vae::num_threads();
  const vae::FloatMatmul saved_matmul = vae::float_matmul();
  const int shapes[][3] = {{128, 400, 784}, {128, 20, 400}, {128, 784, 400}, {1, 400, 784},
                           {7, 3, 5}, {16, 3, 5}, {128, 400, 784}};
  for (vae::FloatMatmul m : {vae::FloatMatmul::Sgemm, vae::FloatMatmul::Primitive}) {
    vae::set_float_matmul(m);
    if (m == vae::FloatMatmul::Primitive && std::string(vae::gemm_float_backend()) == "onednn") {
      EXPECT_EQ(vae::float_matmul(), vae::FloatMatmul::Primitive);
    }
    for (int threads : {1, 2}) {
      vae::set_num_threads(threads);
      for (const auto& s : shapes) compare_bias<float>(s[0], s[1], s[2], 2e-3f);
    }
    vae::set_num_threads(2);
    vae::ScopedSerialBlas serial;
    vae::WorkerPool pool(2);
    pool.run([&](int t) { compare_bias<float>(64 + t, 400, 300, 2e-3f); });
  }
  compare_bias<double>(37, 29, 53, 1e-12);
  vae::set_float_matmul(saved_matmul);
  vae::set_num_threads(saved);
}

// A thread that meets more shapes than it keeps primitives for (a server's varying request sizes)
// still gets right products: 80 row counts on one new thread, each twice.
TEST(GemmBias, MoreShapesThanTheCacheHoldsStayRight) {
  const vae::FloatMatmul saved_matmul = vae::float_matmul();
  vae::set_float_matmul(vae::FloatMatmul::Primitive);
  std::thread([] {
    for (int pass = 0; pass < 2; ++pass)
      for (int M = 16; M < 96; ++M) compare_bias<float>(M, 9, 11, 1e-4f);
  }).join();
  vae::set_float_matmul(saved_matmul);
}

TEST(Gemm, ReferenceIsRightOnAHandExample) {
  // [1 2; 3 4] · [5 6; 7 8] = [19 22; 43 50]
  const double A[] = {1, 2, 3, 4}, B[] = {5, 6, 7, 8};
  double C[4] = {0, 0, 0, 0};
  vae::gemm_reference<double>(false, false, 2, 2, 2, 1.0, A, 2, B, 2, 0.0, C, 2);
  EXPECT_EQ(C[0], 19);
  EXPECT_EQ(C[1], 22);
  EXPECT_EQ(C[2], 43);
  EXPECT_EQ(C[3], 50);
}

}  // namespace
