#!/usr/bin/env bash
# Installs what vae.cpp needs to build, test and train, from Debian 12's archive.
# Run as root (or with sudo available). Does nothing when everything is already installed.
#   scripts/setup.sh                    build and run
#   scripts/setup.sh --with-test-tools  also Chromium, which the test suite uses to open a run's
#                                       report as a reader would (large: ~300 MB installed)
set -euo pipefail

packages=(
  build-essential cmake pkg-config   # compiler and build
  libopenblas-dev                    # GEMM through CBLAS
  zlib1g-dev                         # .gz IDX files
  libpng-dev                         # PNG grids and image folders
  libjpeg-dev                        # JPEG image folders
  nlohmann-json3-dev                 # checkpoint metadata, metrics, configs
  libcli11-dev                       # the command line
  libgtest-dev googletest            # tests
  libbenchmark-dev                   # benchmarks
  dataset-fashion-mnist              # the default data set, /usr/share/datasets/fashion-mnist
)
if [[ ${1:-} == --with-test-tools ]]; then
  packages+=(chromium)               # scripts/check-report.sh, VizCli.ReportLoadsInHeadlessChromium
elif [[ -n ${1:-} ]]; then
  echo "setup: unknown option '$1' (the only one is --with-test-tools)" >&2
  exit 2
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

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
