// Latent-space geometry: lerp and slerp between codes, Φ⁻¹ for the prior's quantile grid, and
// principal directions by power iteration.
//
// Legend: n values per code, d dimensions of a symmetric matrix, k eigenpairs wanted.
#include <algorithm>
#include <cmath>
#include <limits>

#include "vae/error.h"
#include "viz/viz.h"

namespace vae {

void lerp(float* out, const float* a, const float* b, size_t n, double t) {
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>((1.0 - t) * a[i] + t * b[i]);
}

void slerp(float* out, const float* a, const float* b, size_t n, double t) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < n; ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  if (aa == 0 || bb == 0) return lerp(out, a, b, n, t);
  // cos Ω = a·b / (‖a‖ ‖b‖), clamped against rounding just outside [−1, 1].
  const double cos_omega = std::clamp(ab / std::sqrt(aa * bb), -1.0, 1.0);
  const double omega = std::acos(cos_omega);
  const double sin_omega = std::sin(omega);
  if (sin_omega < 1e-6) return lerp(out, a, b, n, t);
  const double wa = std::sin((1.0 - t) * omega) / sin_omega;
  const double wb = std::sin(t * omega) / sin_omega;
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(wa * a[i] + wb * b[i]);
}

double normal_quantile(double p) {
  if (!(p >= 0.0 && p <= 1.0)) return std::numeric_limits<double>::quiet_NaN();
  if (p == 0.0) return -std::numeric_limits<double>::infinity();
  if (p == 1.0) return std::numeric_limits<double>::infinity();
  // Acklam's coefficients: a rational function of q = p − ½ in the centre, of q = √(−2 ln p)
  // (or of 1 − p) in the tails.
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  constexpr double p_low = 0.02425, p_high = 1.0 - p_low;
  double x;
  if (p < p_low) {
    const double q = std::sqrt(-2.0 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  } else if (p <= p_high) {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
  } else {
    const double q = std::sqrt(-2.0 * std::log1p(-p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  }
  // One Halley step on f(x) = Φ(x) − p: f' = φ, f'' = −x φ, so with u = f/φ the step is
  // x − u / (1 + x u / 2). In the upper half f is computed as (1 − p) − Φ(−x), the same value
  // with the digits of the small tail probability kept.
  constexpr double sqrt_2pi = 2.50662827463100050242;
  const double f = p <= 0.5 ? 0.5 * std::erfc(-x / std::sqrt(2.0)) - p
                            : (1.0 - p) - 0.5 * std::erfc(x / std::sqrt(2.0));
  const double u = f * sqrt_2pi * std::exp(0.5 * x * x);
  return x - u / (1.0 + 0.5 * x * u);
}

namespace {

double dot(const double* a, const double* b, int d) {
  double s = 0;
  for (int i = 0; i < d; ++i) s += a[i] * b[i];
  return s;
}

// v ← v − Σ_{i<found} (v·e_i) e_i for the unit rows e_i of vecs (found, d).
void project_out(double* v, const double* vecs, int found, int d) {
  for (int i = 0; i < found; ++i) {
    const double c = dot(v, vecs + static_cast<size_t>(i) * d, d);
    for (int j = 0; j < d; ++j) v[j] -= c * vecs[static_cast<size_t>(i) * d + j];
  }
}

// Scales v to unit length and returns its former norm (v untouched when that is 0).
double normalise(double* v, int d) {
  const double norm = std::sqrt(dot(v, v, d));
  if (norm > 0)
    for (int j = 0; j < d; ++j) v[j] /= norm;
  return norm;
}

// w = S v for the symmetric d×d matrix S.
void matvec(double* w, const double* sym, const double* v, int d) {
  for (int r = 0; r < d; ++r) w[r] = dot(sym + static_cast<size_t>(r) * d, v, d);
}

}  // namespace

void leading_eigenvectors(double* vecs, double* vals, const double* sym, int d, int k) {
  VAE_ASSERT(d >= 1 && k >= 1 && k <= d);
  std::vector<double> v(d), w(d), col(d);  // (d) each
  // What counts as nothing: 1e-12 of the largest column norm of S. Below it a vector is
  // rounding noise, and normalising it would amplify that noise into a direction that is not
  // orthogonal to the eigenvectors already found.
  double scale = 0;
  for (int j = 0; j < d; ++j) {
    for (int r = 0; r < d; ++r) col[r] = sym[static_cast<size_t>(r) * d + j];
    scale = std::max(scale, std::sqrt(dot(col.data(), col.data(), d)));
  }
  const double tiny = 1e-12 * scale;
  for (int i = 0; i < k; ++i) {
    // Start from the column of S with the largest norm once the directions found are projected
    // out: it lies in the range of what is left, so it is not orthogonal to the leading
    // eigenvector there.
    double best = 0;
    for (int j = 0; j < d; ++j) {
      for (int r = 0; r < d; ++r) col[r] = sym[static_cast<size_t>(r) * d + j];
      project_out(col.data(), vecs, i, d);
      project_out(col.data(), vecs, i, d);
      const double norm = std::sqrt(dot(col.data(), col.data(), d));
      if (norm > best && norm > tiny) {
        best = norm;
        v = col;
      }
    }
    // Nothing left (S has rank i): a basis vector far from those found, with λ = 0.
    const bool null_space = best == 0;
    for (int j = 0; j < d && best == 0; ++j) {
      std::fill(v.begin(), v.end(), 0.0);
      v[j] = 1.0;
      project_out(v.data(), vecs, i, d);
      project_out(v.data(), vecs, i, d);
      if (std::sqrt(dot(v.data(), v.data(), d)) > 0.5) best = 1;
    }
    normalise(v.data(), d);
    for (int step = 0; step < 20000 && !null_space; ++step) {
      matvec(w.data(), sym, v.data(), d);
      project_out(w.data(), vecs, i, d);
      project_out(w.data(), vecs, i, d);
      if (normalise(w.data(), d) <= tiny) break;  // v is (numerically) in S's null space
      double change = 0;
      for (int j = 0; j < d; ++j) change += (w[j] - v[j]) * (w[j] - v[j]);
      v.swap(w);
      if (std::sqrt(change) < 1e-13) break;
    }
    // Projected twice ("twice is enough" for Gram–Schmidt), then signed so that the
    // largest-magnitude entry is positive.
    project_out(v.data(), vecs, i, d);
    project_out(v.data(), vecs, i, d);
    normalise(v.data(), d);
    int big = 0;
    for (int j = 1; j < d; ++j)
      if (std::fabs(v[j]) > std::fabs(v[big])) big = j;
    if (v[big] < 0)
      for (double& x : v) x = -x;
    matvec(w.data(), sym, v.data(), d);
    vals[i] = dot(v.data(), w.data(), d);
    std::copy(v.begin(), v.end(), vecs + static_cast<size_t>(i) * d);
  }
}

Pca principal_components(const float* x, size_t n, int d, int k) {
  VAE_ASSERT(n >= 1 && d >= 1 && k >= 1 && k <= d);
  const size_t D = static_cast<size_t>(d);
  Pca p;
  p.mean.assign(D, 0.0);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < D; ++j) p.mean[j] += x[i * D + j];
  for (double& m : p.mean) m /= static_cast<double>(n);
  // C = (1/n) Σ (x − m)(x − m)ᵀ, upper triangle accumulated, then mirrored.
  std::vector<double> cov(D * D, 0.0), centred(D);  // (d, d), (d)
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < D; ++j) centred[j] = x[i * D + j] - p.mean[j];
    for (size_t r = 0; r < D; ++r)
      for (size_t c = r; c < D; ++c) cov[r * D + c] += centred[r] * centred[c];
  }
  for (size_t r = 0; r < D; ++r)
    for (size_t c = r; c < D; ++c) {
      cov[r * D + c] /= static_cast<double>(n);
      cov[c * D + r] = cov[r * D + c];
    }
  for (size_t j = 0; j < D; ++j) p.total_variance += cov[j * D + j];
  p.components.resize(static_cast<size_t>(k) * D);
  p.variances.resize(k);
  leading_eigenvectors(p.components.data(), p.variances.data(), cov.data(), d, k);
  return p;
}

std::string class_name(const std::vector<std::string>& names, const std::string& data_spec,
                       int label) {
  if (label >= 0 && static_cast<size_t>(label) < names.size()) return names[label];
  const std::vector<std::string>& fashion = fashion_mnist_class_names();
  if (names.empty() && data_spec == "fashion-mnist" && label >= 0 && label < 10)
    return fashion[label];
  return "class " + std::to_string(label);
}

}  // namespace vae
