// The float exp and log1p of core/fastmath.h and the softplus / sigmoid built on them: included
// inside a namespace by core/fastmath.h (vae::fastmath) and by core/kernels_impl.h (each
// instruction set's own namespace, so that every kernel file compiles its own copy and no copy
// built for one instruction set can stand in for another's at link time). Plain arithmetic on
// floats and bits, no library calls, so loops over them compile to SIMD code. No include guard
// and no includes: by design. The including namespace declares exp_nonpositive and log1p_unit for
// any other type T before this file (core/fastmath.h: double, through libm).

/// e^x for x ≤ 0 (x < −87.3 flushes to 0, as float underflows there anyway).
inline float exp_nonpositive(float x) {
  // Cody–Waite: x = n ln2 + r, |r| ≤ ln2/2; e^x = 2^n · e^r with a degree-6 Taylor/minimax
  // polynomial for e^r (relative error < 2e-7 on |r| ≤ 0.347).
  x = x < -87.3f ? -87.3f : x;
  // Round to nearest by adding and removing 1.5·2²³ (exact for |x·log₂e| < 2²²): unlike
  // nearbyint, plain adds vectorise under the default floating-point environment.
  const float shifter = 12582912.0f;
  const float n = (x * 1.44269504088896341f + shifter) - shifter;
  float r = x - n * 0.693145751953125f;    // ln2 split in a high part exact in float...
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
  const int bits = (static_cast<int>(n_bits) + 127) << 23;  // int: 32 bits on every target here
  float scale;
  __builtin_memcpy(&scale, &bits, sizeof scale);
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

// softplus(l) = max(l, 0) + log(1 + e^−|l|) and σ(l) = [l ≥ 0 ? 1 : e^l] / (1 + e^−|l|) share
// t = e^−|l| ∈ (0, 1]: the exponent is never positive, so nothing overflows for either sign.

/// softplus(l) = log(1 + e^l), exact and never overflowing.
template <class T>
inline T softplus(T l) {
  const T t = exp_nonpositive(l > T(0) ? -l : l);
  return (l > T(0) ? l : T(0)) + log1p_unit(t);
}

/// σ(l) = 1 / (1 + e^−l), for either sign of l without overflow.
template <class T>
inline T sigmoid(T l) {
  const T t = exp_nonpositive(l > T(0) ? -l : l);
  return (l >= T(0) ? T(1) : t) / (T(1) + t);
}
