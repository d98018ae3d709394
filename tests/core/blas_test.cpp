// The BLAS path of gemm against the naive reference, for every transpose combination.
#include <gtest/gtest.h>

#include <vector>

#include "core/blas.h"
#include "vae/rng.h"

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
