#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite under CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-test-tools
scripts/build.sh build
ctest --test-dir build --output-on-failure -j"$(nproc)"
