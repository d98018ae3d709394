#!/usr/bin/env bash
# Installs what vae.cpp needs to build, test and train, from Debian 12's archive.
# Run as root (or with sudo available). Does nothing when everything is already installed.
#   scripts/setup.sh                    build and run
#   scripts/setup.sh --with-test-tools  also what the test suite checks the project against:
#                                       Chromium (a run's report and the explorer page of
#                                       `vae serve`, opened as a reader would; ~300 MB installed),
#                                       the runtimes the interop tests compare with (PyTorch,
#                                       python3-onnx, OpenCV), and Node.js with npm for two
#                                       test tools installed exactly as their package-lock.json
#                                       pins them: ONNX Runtime (tests/export/node) and
#                                       puppeteer-core (tests/serve/browser)
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
  libopenmpi-dev openmpi-bin         # distributed training: mpirun -np N vae train (docs/distributed.md)
  libgtest-dev googletest            # tests
  libbenchmark-dev                   # benchmarks
  libboost-dev                       # Boost.Beast and Asio (headers): the HTTP service, vae serve
  dataset-fashion-mnist              # the default data set, /usr/share/datasets/fashion-mnist
  libonnx-dev libprotobuf-dev        # vae export --onnx (onnx-ml.pb.h, libonnx_proto, protobuf)
)
test_tools=false
for arg in "$@"; do
  case $arg in
    --with-test-tools)
      packages+=(chromium)           # scripts/check-report.sh, VizCli.ReportLoadsInHeadlessChromium
      packages+=(python3-torch)      # python/tests/test_torch.py: vae.torch against vae.cpp
      packages+=(python3-onnx python3-opencv)  # tests/export/onnx_export_test.py: checker, dnn
      # Node.js and npm for ONNX Runtime and puppeteer-core: Debian's packages where no node/npm
      # is on the machine yet (a Node.js that bundles npm conflicts with Debian's npm package,
      # so an npm already on PATH is used as it is).
      command -v node >/dev/null || packages+=(nodejs)
      command -v npm >/dev/null || packages+=(npm)
      test_tools=true
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

# The test tools from npm, each exactly as its package-lock.json pins it, into its own
# node_modules: ONNX Runtime (its install script would download GPU libraries and fail offline;
# ONNXRUNTIME_NODE_INSTALL=skip keeps the CPU build the package ships) and puppeteer-core.
install_node_tools() {
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  local -A tools=([tests/export/node]=onnxruntime-node [tests/serve/browser]=puppeteer-core)
  for dir in "${!tools[@]}"; do
    if [[ ! -d $root/$dir/node_modules/${tools[$dir]} ]]; then
      echo "setup: npm ci in $root/$dir"
      (cd "$root/$dir" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    fi
  done
}

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
if $test_tools; then install_node_tools; fi
