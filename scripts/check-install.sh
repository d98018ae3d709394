#!/usr/bin/env bash
# Installs a built tree into a temporary prefix and uses it the way a program outside the
# project would (.ci/run runs it after the plain build and tests):
#   1. examples/ as an out-of-tree CMake project through find_package(vae): embed.cpp (C++) and
#      embed_c.c (C)
#   2. the same two sources compiled by hand through pkg-config (vae.pc, --static)
#   3. the installed `vae` command: export --weights-only, and the examples on the smaller file
#   4. the Python package's tests (python/tests) against the installed package and libvae_c
# Every program runs on the format-1 fixture checkpoint; all four builds must print the same.
#   scripts/check-install.sh [BUILD_DIR]    (default: build, as scripts/test.sh leaves it)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
prefix=$root/prefix
ckpt=$PWD/tests/fixtures/v1/mlp_gaussian_learned.safetensors

cmake --install "$build" --prefix "$prefix" >/dev/null
echo "check-install: installed $build into a temporary prefix"

# 1. find_package(vae)
cmake -S examples -B "$root/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/cmake" -j2 >/dev/null
"$root/cmake/embed" "$ckpt" >"$root/cmake.cpp.out"
"$root/cmake/embed_c" "$ckpt" >"$root/cmake.c.out"
echo "check-install: find_package(vae): C++ and C examples ran"

# 2. pkg-config
pc=$(find "$prefix" -name vae.pc)
export PKG_CONFIG_PATH=$(dirname "$pc")
# (the rpath finds a shared libvae.so in the prefix, as for any library outside the system's)
rpath=-Wl,-rpath,$(pkg-config --variable=libdir vae)
"${CXX:-c++}" -std=c++17 -O2 examples/embed.cpp -o "$root/embed_pc" $(pkg-config --cflags --libs --static vae) "$rpath"
"${CC:-cc}" -std=c99 -O2 examples/embed_c.c -o "$root/embed_c_pc" $(pkg-config --cflags --libs --static vae) "$rpath"
"$root/embed_pc" "$ckpt" >"$root/pc.cpp.out"
"$root/embed_c_pc" "$ckpt" >"$root/pc.c.out"
cmp "$root/cmake.cpp.out" "$root/pc.cpp.out"
cmp "$root/cmake.c.out" "$root/pc.c.out"
echo "check-install: pkg-config: C++ and C examples ran, same output"

# 3. the installed command; a weights-only checkpoint gives the same numbers
"$prefix/bin/vae" export "$ckpt" --weights-only --out "$root/small.safetensors" >/dev/null
"$root/cmake/embed" "$root/small.safetensors" >"$root/small.cpp.out"
cmp "$root/cmake.cpp.out" "$root/small.cpp.out"
echo "check-install: vae export --weights-only: the examples read it, same output"

# 4. Python, against the installed package (not the source tree's)
py=python3
/usr/bin/python3 -c "import numpy" 2>/dev/null && py=/usr/bin/python3
package=$(dirname "$(find "$prefix" -path '*/vae/__init__.py')")
PYTHONPATH=$(dirname "$package") VAE_FIXTURE_DIR=$PWD/tests/fixtures \
  "$py" -c "import vae, sys; assert vae.__file__.startswith(sys.argv[1]), vae.__file__" "$prefix"
PYTHONPATH=$(dirname "$package") VAE_FIXTURE_DIR=$PWD/tests/fixtures \
  "$py" -m unittest discover -s python/tests 2>&1 | tail -n 3
echo "check-install: ok"
