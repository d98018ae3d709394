// Branch-free exp and log1p for the elementwise hot loops (the Bernoulli likelihood runs them
// on every one of B·D logits, twice per step), and softplus and sigmoid on top of them. libm's
// expf/log1pf are scalar calls the compiler cannot vectorise; the float versions here
// (core/fastmath_impl.h, which the per-ISA kernels of core/kernels.h compile too) are plain
// arithmetic on floats and bits, so loops over them compile to SIMD code. Accuracy: a few ulp
// over the ranges used (tests/core/fastmath_test.cpp holds them to std::exp / std::log1p). The
// double versions forward to libm: double precision is for the gradient checks, where accuracy
// matters and speed does not.
#pragma once

#include <cmath>

namespace vae::fastmath {

inline double exp_nonpositive(double x) { return std::exp(x); }
inline double log1p_unit(double t) { return std::log1p(t); }

#include "core/fastmath_impl.h"

}  // namespace vae::fastmath
