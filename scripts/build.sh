#!/usr/bin/env bash
# Configures and builds vae.cpp (Release) into ./build, or the folder given as $1.
# Extra arguments are passed to CMake's configure step, e.g. scripts/build.sh build-asan -DVAE_SANITIZE=ON
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
