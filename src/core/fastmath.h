// Branch-free exp and log1p for the elementwise hot loops (the Bernoulli likelihood runs them
// on every one of B·D logits, twice per step). libm's expf/log1pf are scalar calls the compiler
// cannot vectorise; these are plain arithmetic on floats and bits, so loops over them compile to
// SIMD code. Accuracy: a few ulp over the ranges used (tests/core/fastmath_test.cpp holds them
// to std::exp / std::log1p). The double versions forward to libm: double precision is for the
// gradient checks, where accuracy matters and speed does not.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace vae::fastmath {

/// e^x for x ≤ 0 (x < −87.3 flushes to 0, as float underflows there anyway).
inline float exp_nonpositive(float x) {
  // Cody–Waite: x = n ln2 + r, |r| ≤ ln2/2; e^x = 2^n · e^r with a degree-6 Taylor/minimax
  // polynomial for e^r (relative error < 2e-7 on |r| ≤ 0.347).
  x = x < -87.3f ? -87.3f : x;
  // Round to nearest by adding and removing 1.5·2²³ (exact for |x·log₂e| < 2²²): unlike
  // nearbyint, plain adds vectorise under the default floating-point environment.
  const float shifter = 12582912.0f;
  const float n = (x * 1.44269504088896341f + shifter) - shifter;
  float r = x - n * 0.693145751953125f;  // ln2 split in a high part exact in float...
  r = r - n * 1.42860682030941723212e-6f;  // ...and the low remainder
  float p = 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // 2^n by building the exponent bits; n ≥ −126 here, so the result stays normal. A NaN x makes
  // n NaN, and converting a NaN to an integer is undefined behaviour: the select (which changes
  // no finite n) keeps the conversion defined, and p carries the NaN into the result.
  const float n_bits = n >= -126.0f ? n : -126.0f;
  const int32_t bits = (static_cast<int32_t>(n_bits) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

/// log(1 + t) for t in [0, 1].
inline float log1p_unit(float t) {
  // log(1 + t) = t · q(t), q of degree 9: the Chebyshev interpolant of log(1 + t)/t on [0, 1]
  // (smooth there: the nearest singularity is t = −1), written in powers of t. Relative error
  // below 2e-7 in float over the whole interval, t → 0 included (q(0) ≈ 1, so tiny t come back
  // as t). Ten multiply-adds and no division, so loops over it vectorise well.
  float q = -3.256378464e-03f;
  q = q * t + 1.990716089e-02f;
  q = q * t - 5.706420070e-02f;
  q = q * t + 1.061426468e-01f;
  q = q * t - 1.531186310e-01f;
  q = q * t + 1.967811726e-01f;
  q = q * t - 2.495455887e-01f;
  q = q * t + 3.333000404e-01f;
  q = q * t - 4.999990399e-01f;
  q = q * t + 9.999999954e-01f;
  return q * t;
}

inline double exp_nonpositive(double x) { return std::exp(x); }
inline double log1p_unit(double t) { return std::log1p(t); }

}  // namespace vae::fastmath
