// The machine's FP32 peak, measured: a register-only loop of independent fused multiply-adds
// (no memory traffic), in the widest vectors the CPU has — AVX-512 where present, else AVX2+FMA,
// else SSE2 multiply and add — chosen at run time, so a portable build measures the same peak
// as a native one.
#pragma once

#include <cstdint>

namespace vae_bench {

/// The instruction set fma_loop uses on this CPU: "avx512", "avx2" or "sse2".
const char* fma_isa();
/// Runs `iters` rounds of the loop; returns the FLOPs done (2 per lane per FMA). The result is
/// written to *sink so that the compiler keeps the work.
double fma_loop(int64_t iters, float* sink);

}  // namespace vae_bench
