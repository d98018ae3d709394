// Tests for src/viz/latent_math.cpp: lerp and slerp (endpoints, norm preservation on the
// sphere, the fallbacks), Φ⁻¹ against golden values and its own inverse, power-iteration
// eigenpairs of known matrices, PCA of data with a known covariance, and class names.
//
// Legend: n values per code, d matrix size, N samples.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "vae/rng.h"
#include "viz/viz.h"

namespace {

double norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}

std::vector<float> unit(std::vector<float> v) {
  const double n = norm(v);
  for (float& x : v) x = static_cast<float>(x / n);
  return v;
}

TEST(Lerp, EndpointsAndMidpoint) {
  const std::vector<float> a = {1, -2, 3}, b = {5, 2, -1};
  std::vector<float> out(3);
  vae::lerp(out.data(), a.data(), b.data(), 3, 0.0);
  EXPECT_EQ(out, a);
  vae::lerp(out.data(), a.data(), b.data(), 3, 1.0);
  EXPECT_EQ(out, b);
  vae::lerp(out.data(), a.data(), b.data(), 3, 0.5);
  EXPECT_EQ(out, (std::vector<float>{3, 0, 1}));
}

TEST(Slerp, EndpointsAreTheTwoCodes) {
  const std::vector<float> a = {0.3f, -1.2f, 2.0f, 0.5f}, b = {-1.0f, 0.4f, 0.7f, 1.5f};
  std::vector<float> out(4);
  vae::slerp(out.data(), a.data(), b.data(), 4, 0.0);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[i], a[i], 1e-6) << i;
  vae::slerp(out.data(), a.data(), b.data(), 4, 1.0);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[i], b[i], 1e-6) << i;
}

TEST(Slerp, KeepsUnitNormAlongThePath) {
  // Two unit vectors 20 dimensions wide, far from parallel: every point of the arc is a unit
  // vector, while the chord (lerp) dips inside the sphere.
  vae::Rng rng(11);
  std::vector<float> a(20), b(20), out(20), chord(20);
  rng.normal_fill(a.data(), a.size());
  rng.normal_fill(b.data(), b.size());
  a = unit(a);
  b = unit(b);
  for (int k = 0; k <= 10; ++k) {
    const double t = k / 10.0;
    vae::slerp(out.data(), a.data(), b.data(), 20, t);
    EXPECT_NEAR(norm(out), 1.0, 1e-6) << "t = " << t;
  }
  vae::lerp(chord.data(), a.data(), b.data(), 20, 0.5);
  EXPECT_LT(norm(chord), 0.95);
}

TEST(Slerp, KeepsAnyCommonNorm) {
  const std::vector<float> a = {3, 0, 0}, b = {0, 0, 3};
  std::vector<float> out(3);
  for (double t : {0.1, 0.25, 0.5, 0.9}) {
    vae::slerp(out.data(), a.data(), b.data(), 3, t);
    EXPECT_NEAR(norm(out), 3.0, 1e-5) << t;
  }
  // Halfway between orthogonal axes: 3 (cos 45°, 0, sin 45°).
  vae::slerp(out.data(), a.data(), b.data(), 3, 0.5);
  EXPECT_NEAR(out[0], 3 / std::sqrt(2.0), 1e-5);
  EXPECT_NEAR(out[1], 0, 1e-6);
  EXPECT_NEAR(out[2], 3 / std::sqrt(2.0), 1e-5);
  // A third of the way: the angle is a third of 90°.
  vae::slerp(out.data(), a.data(), b.data(), 3, 1.0 / 3);
  EXPECT_NEAR(std::atan2(out[2], out[0]), M_PI / 6, 1e-6);
}

TEST(Slerp, FallsBackToLerpWhenTheArcIsUndefined) {
  std::vector<float> out(2), expect(2);
  const std::vector<float> a = {1, 2}, parallel = {2, 4}, opposite = {-1, -2}, zero = {0, 0};
  for (const auto* b : {&parallel, &opposite, &zero}) {
    vae::slerp(out.data(), a.data(), b->data(), 2, 0.3);
    vae::lerp(expect.data(), a.data(), b->data(), 2, 0.3);
    EXPECT_EQ(out, expect);
    for (float v : out) EXPECT_TRUE(std::isfinite(v));
  }
}

TEST(NormalQuantile, GoldenValues) {
  EXPECT_NEAR(vae::normal_quantile(0.975), 1.959963985, 1e-9);
  EXPECT_NEAR(vae::normal_quantile(0.975), 1.959963984540054, 1e-13);
  EXPECT_EQ(vae::normal_quantile(0.5), 0.0);
  EXPECT_NEAR(vae::normal_quantile(0.025), -1.959963984540054, 1e-13);
  EXPECT_NEAR(vae::normal_quantile(0.8413447460685429), 1.0, 1e-12);  // Φ(1)
  EXPECT_NEAR(vae::normal_quantile(0.999), 3.090232306167813, 1e-12);
  EXPECT_NEAR(vae::normal_quantile(0.01), -2.326347874040841, 1e-12);
  EXPECT_NEAR(vae::normal_quantile(1e-10), -6.361340902404056, 1e-9);
}

TEST(NormalQuantile, InvertsTheNormalCdfAcrossBothTailsAndTheCentre) {
  // Φ(Φ⁻¹(p)) = p, through each branch of the approximation (p_low = 0.02425).
  for (double p : {1e-300, 1e-15, 1e-6, 0.001, 0.02, 0.02425, 0.1, 0.3, 0.5, 0.7, 0.9, 0.97575,
                   0.99, 0.999999}) {
    const double x = vae::normal_quantile(p);
    const double back = 0.5 * std::erfc(-x / std::sqrt(2.0));
    EXPECT_NEAR(back, p, 1e-14 * std::max(p, 1e-3)) << "p = " << p;
  }
  for (double p : {1e-8, 0.01, 0.2, 0.45})
    EXPECT_NEAR(vae::normal_quantile(1 - p), -vae::normal_quantile(p), 1e-8) << p;
}

TEST(NormalQuantile, EdgesOfTheDomain) {
  EXPECT_EQ(vae::normal_quantile(0.0), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(vae::normal_quantile(1.0), std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(vae::normal_quantile(-0.1)));
  EXPECT_TRUE(std::isnan(vae::normal_quantile(1.5)));
  EXPECT_TRUE(std::isnan(vae::normal_quantile(std::nan(""))));
}

// S = R diag(λ) Rᵀ for a rotation R built from two Givens rotations.
std::vector<double> rotated_diag(const std::vector<double>& lambda, std::vector<double>* r_out) {
  const int d = 3;
  const double a = 0.7, b = -0.4;
  const double g1[9] = {std::cos(a), -std::sin(a), 0, std::sin(a), std::cos(a), 0, 0, 0, 1};
  const double g2[9] = {1, 0, 0, 0, std::cos(b), -std::sin(b), 0, std::sin(b), std::cos(b)};
  std::vector<double> r(9, 0.0), s(9, 0.0);
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j)
      for (int k = 0; k < d; ++k) r[i * d + j] += g1[i * d + k] * g2[k * d + j];
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j)
      for (int k = 0; k < d; ++k) s[i * d + j] += r[i * d + k] * lambda[k] * r[j * d + k];
  *r_out = r;
  return s;
}

TEST(LeadingEigenvectors, KnownRotatedCovariance) {
  std::vector<double> r;
  const std::vector<double> s = rotated_diag({9, 4, 1}, &r);
  double vecs[6], vals[2];
  vae::leading_eigenvectors(vecs, vals, s.data(), 3, 2);
  EXPECT_NEAR(vals[0], 9, 1e-10);
  EXPECT_NEAR(vals[1], 4, 1e-10);
  for (int k = 0; k < 2; ++k) {
    // Column k of R, up to sign: |v·r_k| = 1.
    double dot = 0, len = 0;
    for (int j = 0; j < 3; ++j) {
      dot += vecs[k * 3 + j] * r[j * 3 + k];
      len += vecs[k * 3 + j] * vecs[k * 3 + j];
    }
    EXPECT_NEAR(std::fabs(dot), 1.0, 1e-10) << k;
    EXPECT_NEAR(len, 1.0, 1e-12) << k;
    // Signed so that the largest-magnitude entry is positive.
    int big = 0;
    for (int j = 1; j < 3; ++j)
      if (std::fabs(vecs[k * 3 + j]) > std::fabs(vecs[k * 3 + big])) big = j;
    EXPECT_GT(vecs[k * 3 + big], 0) << k;
  }
}

TEST(LeadingEigenvectors, UnsortedDiagonal) {
  const double s[9] = {1, 0, 0, 0, 5, 0, 0, 0, 3};
  double vecs[9], vals[3];
  vae::leading_eigenvectors(vecs, vals, s, 3, 3);
  EXPECT_NEAR(vals[0], 5, 1e-12);
  EXPECT_NEAR(vals[1], 3, 1e-12);
  EXPECT_NEAR(vals[2], 1, 1e-12);
  const double expect[9] = {0, 1, 0, 0, 0, 1, 1, 0, 0};
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(vecs[i], expect[i], 1e-10) << i;
}

TEST(LeadingEigenvectors, RankOneAndRepeatedEigenvaluesGiveOrthonormalVectors) {
  // S = u uᵀ, u = (1, 2, 2): λ = 9, 0, 0.
  const double u[3] = {1, 2, 2};
  double s[9];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) s[i * 3 + j] = u[i] * u[j];
  double vecs[9], vals[3];
  vae::leading_eigenvectors(vecs, vals, s, 3, 3);
  EXPECT_NEAR(vals[0], 9, 1e-12);
  EXPECT_NEAR(vals[1], 0, 1e-12);
  EXPECT_NEAR(vals[2], 0, 1e-12);
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      double dot = 0;
      for (int j = 0; j < 3; ++j) dot += vecs[a * 3 + j] * vecs[b * 3 + j];
      EXPECT_NEAR(dot, a == b ? 1.0 : 0.0, 1e-10) << a << "," << b;
    }
  // The identity: any orthonormal basis, every λ = 1.
  const double id[4] = {1, 0, 0, 1};
  double v2[4], l2[2];
  vae::leading_eigenvectors(v2, l2, id, 2, 2);
  EXPECT_NEAR(l2[0], 1, 1e-12);
  EXPECT_NEAR(l2[1], 1, 1e-12);
  EXPECT_NEAR(v2[0] * v2[2] + v2[1] * v2[3], 0, 1e-12);
}

TEST(PrincipalComponents, ExactSmallData) {
  // Four points (±1, 0), (0, ±0.5): mean 0, C = diag(0.5, 0.125).
  const float x[8] = {1, 0, -1, 0, 0, 0.5f, 0, -0.5f};
  const vae::Pca p = vae::principal_components(x, 4, 2, 2);
  EXPECT_NEAR(p.mean[0], 0, 1e-12);
  EXPECT_NEAR(p.mean[1], 0, 1e-12);
  EXPECT_NEAR(p.variances[0], 0.5, 1e-12);
  EXPECT_NEAR(p.variances[1], 0.125, 1e-12);
  EXPECT_NEAR(p.total_variance, 0.625, 1e-12);
  EXPECT_NEAR(p.components[0], 1, 1e-10);
  EXPECT_NEAR(p.components[3], 1, 1e-10);
}

TEST(PrincipalComponents, RecoversAKnownCovarianceFromSamples) {
  // x = m + R diag(√λ) ε with λ = (9, 4, 1): C = R diag(λ) Rᵀ.
  std::vector<double> r;
  rotated_diag({9, 4, 1}, &r);
  const double lambda[3] = {9, 4, 1}, m[3] = {1, -2, 0.5};
  const size_t N = 40000;
  vae::Rng rng(5);
  std::vector<float> eps(3 * N), x(3 * N);  // (N, 3) each
  rng.normal_fill(eps.data(), eps.size());
  for (size_t i = 0; i < N; ++i)
    for (int j = 0; j < 3; ++j) {
      double v = m[j];
      for (int k = 0; k < 3; ++k) v += r[j * 3 + k] * std::sqrt(lambda[k]) * eps[i * 3 + k];
      x[i * 3 + j] = static_cast<float>(v);
    }
  const vae::Pca p = vae::principal_components(x.data(), N, 3, 2);
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(p.mean[j], m[j], 0.05) << j;
  EXPECT_NEAR(p.variances[0], 9, 0.3);
  EXPECT_NEAR(p.variances[1], 4, 0.15);
  EXPECT_NEAR(p.total_variance, 14, 0.4);
  for (int k = 0; k < 2; ++k) {
    double dot = 0;
    for (int j = 0; j < 3; ++j) dot += p.components[k * 3 + j] * r[j * 3 + k];
    EXPECT_GT(std::fabs(dot), 0.999) << k;
  }
}

TEST(ClassName, FashionMnistNamesAndGenericOnes) {
  EXPECT_EQ(vae::class_name("fashion-mnist", 0), "T-shirt/top");
  EXPECT_EQ(vae::class_name("fashion-mnist", 6), "Shirt");
  EXPECT_EQ(vae::class_name("fashion-mnist", 9), "Ankle boot");
  EXPECT_EQ(vae::class_name("fashion-mnist", 10), "class 10");
  EXPECT_EQ(vae::class_name("/data/mnist", 3), "class 3");
}

}  // namespace
