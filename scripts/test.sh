#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite under CTest.
#   scripts/test.sh              Release build in ./build (the README's test command)
#   scripts/test.sh --sanitize   the same suite built with AddressSanitizer and
#                                UndefinedBehaviorSanitizer (-DVAE_SANITIZE=ON) in
#                                ./build-sanitize; .ci/run runs it after the plain pass
#   scripts/test.sh --tsan       ThreadSanitizer (-DVAE_TSAN=ON, -O1 -g) in ./build-tsan: only the
#                                library and the thread tests (inference from many threads, the
#                                worker pool, data parallelism, the HTTP service over
#                                loopback); .ci/run's third pass
# A build folder given after the options replaces the default one.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=0
tsan=0
if [[ ${1:-} == --sanitize ]]; then
  sanitize=1
  shift
elif [[ ${1:-} == --tsan ]]; then
  tsan=1
  shift
fi
if [[ ${1:-} == -* ]]; then
  echo "test: unknown option '$1' (the options are --sanitize and --tsan)" >&2
  exit 2
fi
scripts/setup.sh --with-test-tools
if ((sanitize)); then
  dir=${1:-build-sanitize}
  # -O1 -g, the usual optimisation for sanitizer builds: it compiles in less than half the time
  # of -O3 under instrumentation, keeps the tests fast, and gives reports file and line numbers.
  # The benchmarks are not part of the suite; leaving them out saves more build time.
  scripts/build.sh "$dir" -DVAE_SANITIZE=ON -DVAE_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g"
  # Any report fails the test that triggered it: UBSan aborts (the build passes
  # -fno-sanitize-recover), ASan stops at the first error, and leaks count as errors.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
elif ((tsan)); then
  dir=${1:-build-tsan}
  scripts/build.sh "$dir" -DVAE_TSAN=ON -DVAE_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DCMAKE_C_FLAGS_DEBUG="-O1 -g"
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1}
else
  dir=${1:-build}
  scripts/build.sh "$dir"
fi
ctest --test-dir "$dir" --output-on-failure -j"$(nproc)"
