#!/usr/bin/env bash
# Installs what vae.cpp needs to build, test and train, from Debian 12's archive.
# Run as root (or with sudo available). Does nothing when everything is already installed.
#   scripts/setup.sh                    build and run
#   scripts/setup.sh --with-test-tools  also Chromium, which the test suite uses to open a run's
#                                       report as a reader would (large: ~300 MB installed), and
#                                       Node.js with npm and puppeteer-core (npm ci in
#                                       tests/serve/browser, from its package-lock.json), which
#                                       drive the explorer page of `vae serve` in that Chromium
#   scripts/setup.sh --with-fuzz        also clang with libFuzzer and the sanitizer runtimes, for
#                                       scripts/fuzz.sh (docs/fuzzing.md)
# The two flags may be combined.
set -euo pipefail

packages=(
  build-essential cmake pkg-config   # compiler and build
  python3                            # scripts/function-lengths.py (a test), bench report
  python3-numpy                      # the Python package python/vae and its tests
  libopenblas-dev                    # GEMM through CBLAS (double; float with VAE_GEMM=openblas)
  libdnnl-dev                        # oneDNN: the float GEMM (VAE_GEMM=onednn, the default)
  zlib1g-dev                         # .gz IDX files
  libpng-dev                         # PNG grids and image folders
  libjpeg-dev                        # JPEG image folders
  nlohmann-json3-dev                 # checkpoint metadata, metrics, configs
  libcli11-dev                       # the command line
  libgtest-dev googletest            # tests
  libbenchmark-dev                   # benchmarks
  libboost-dev                       # Boost.Beast and Asio (headers): the HTTP service, vae serve
  dataset-fashion-mnist              # the default data set, /usr/share/datasets/fashion-mnist
)
with_test_tools=0
for arg in "$@"; do
  case $arg in
    --with-test-tools)
      packages+=(chromium)           # scripts/check-report.sh, VizCli.ReportLoadsInHeadlessChromium
      packages+=(nodejs npm)         # tests/serve/browser: ServeExplorer.WorksInHeadlessChromium
      with_test_tools=1
      ;;
    --with-fuzz)
      # clang's -fsanitize=fuzzer links libclang_rt.fuzzer, which libclang-rt-14-dev holds (clang
      # only recommends it); llvm-14 has llvm-symbolizer, for stack traces with file and line.
      packages+=(clang libclang-rt-14-dev llvm-14)
      ;;
    *)
      echo "setup: unknown option '$arg' (the options are --with-test-tools and --with-fuzz)" >&2
      exit 2
      ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo_cmd=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "setup: done"
fi

# The browser test's npm packages, exactly as locked, into tests/serve/browser/node_modules.
if ((with_test_tools)); then
  browser_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/serve/browser"
  if [[ ! -d $browser_dir/node_modules/puppeteer-core ]]; then
    echo "setup: npm ci in $browser_dir"
    (cd "$browser_dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
