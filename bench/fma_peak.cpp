// Register-only FMA loops, one per instruction set (see fma_peak.h). Each keeps 16 independent
// accumulators: with two FMA pipes of 4 cycles' latency, 8 in flight keep a core busy, 16 leave
// margin. The accumulators start at 1 and are multiplied by a number just under 1 and have a
// tiny number added, so they stay normal and finite however long the loop runs.
#include "fma_peak.h"

#include <immintrin.h>

#include <cstring>

namespace vae_bench {

namespace {

constexpr int kAcc = 16;
constexpr float kMul = 0.999999f, kAdd = 1e-7f;

__attribute__((target("avx512f"))) double loop_avx512(int64_t iters, float* sink) {
  __m512 acc[kAcc];
  for (__m512& a : acc) a = _mm512_set1_ps(1.0f);
  const __m512 m = _mm512_set1_ps(kMul), c = _mm512_set1_ps(kAdd);
  for (int64_t i = 0; i < iters; ++i)
    for (__m512& a : acc) a = _mm512_fmadd_ps(a, m, c);
  __m512 s = acc[0];
  for (int k = 1; k < kAcc; ++k) s = _mm512_add_ps(s, acc[k]);
  float lanes[16];
  _mm512_storeu_ps(lanes, s);
  *sink = lanes[0] + lanes[15];
  return 2.0 * 16 * kAcc * static_cast<double>(iters);
}

__attribute__((target("avx2,fma"))) double loop_avx2(int64_t iters, float* sink) {
  __m256 acc[kAcc];
  for (__m256& a : acc) a = _mm256_set1_ps(1.0f);
  const __m256 m = _mm256_set1_ps(kMul), c = _mm256_set1_ps(kAdd);
  for (int64_t i = 0; i < iters; ++i)
    for (__m256& a : acc) a = _mm256_fmadd_ps(a, m, c);
  __m256 s = acc[0];
  for (int k = 1; k < kAcc; ++k) s = _mm256_add_ps(s, acc[k]);
  float lanes[8];
  _mm256_storeu_ps(lanes, s);
  *sink = lanes[0] + lanes[7];
  return 2.0 * 8 * kAcc * static_cast<double>(iters);
}

double loop_sse2(int64_t iters, float* sink) {  // multiply then add: 2 FLOPs per lane too
  __m128 acc[kAcc];
  for (__m128& a : acc) a = _mm_set1_ps(1.0f);
  const __m128 m = _mm_set1_ps(kMul), c = _mm_set1_ps(kAdd);
  for (int64_t i = 0; i < iters; ++i)
    for (__m128& a : acc) a = _mm_add_ps(_mm_mul_ps(a, m), c);
  __m128 s = acc[0];
  for (int k = 1; k < kAcc; ++k) s = _mm_add_ps(s, acc[k]);
  *sink = _mm_cvtss_f32(s);
  return 2.0 * 4 * kAcc * static_cast<double>(iters);
}

}  // namespace

const char* fma_isa() {
  if (__builtin_cpu_supports("avx512f")) return "avx512";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2";
  return "sse2";
}

double fma_loop(int64_t iters, float* sink) {
  const char* isa = fma_isa();
  if (std::strcmp(isa, "avx512") == 0) return loop_avx512(iters, sink);
  if (std::strcmp(isa, "avx2") == 0) return loop_avx2(iters, sink);
  return loop_sse2(iters, sink);
}

}  // namespace vae_bench
