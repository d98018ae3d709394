// The test programs' main: GoogleTest's, after pinning the library's thread count to two.
//
// Results that split work over threads (data-parallel steps, importance-weighted evaluation)
// take different paths for different counts. Left at "all cores", a test would check one path on
// a two-core machine and another elsewhere; pinned, every machine runs the same one. Tests that
// need another count set it themselves (and restore it). The commands the tests start are pinned
// the same way by VAE_THREADS=2 in their environment (tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include "vae/runtime.h"

namespace {
constexpr int kTestThreads = 2;
}

int main(int argc, char** argv) {
  vae::set_num_threads(kTestThreads);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
