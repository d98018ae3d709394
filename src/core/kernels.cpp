// Run-time choice of the kernel table (core/kernels.h).
#include "core/kernels.h"

namespace vae::kernels {

namespace {

// __builtin_cpu_supports also checks that the OS saves the vector registers (XCR0). Off x86
// the three tables are the same portable code, and only the baseline one is used.
#if defined(__x86_64__) || defined(__i386__)
bool cpu_has_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}
bool cpu_has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#else
bool cpu_has_avx512() { return false; }
bool cpu_has_avx2() { return false; }
#endif

}  // namespace

std::vector<const Table*> supported() {
  std::vector<const Table*> tables{&kBaseline};
  if (cpu_has_avx2()) tables.push_back(&kAvx2);
  if (cpu_has_avx512()) tables.push_back(&kAvx512);
  return tables;
}

const Table& best() {
  static const Table* const chosen = supported().back();
  return *chosen;
}

}  // namespace vae::kernels
