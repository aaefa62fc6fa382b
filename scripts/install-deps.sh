#!/usr/bin/env bash
# Install the Debian packages mir needs, in two groups:
#
#   scripts/install-deps.sh main   what scripts/run-example.sh needs to build and
#                                  run the mir program (tools/mir links mir::io:
#                                  Eigen, OpenBLAS + LAPACKE, nlohmann-json,
#                                  libzip; and CLI11)
#   scripts/install-deps.sh python main + what scripts/install-python.sh needs
#                                  to build `import mir` (pybind11, python3-dev,
#                                  DLPack, NumPy)
#   scripts/install-deps.sh test   everything: main + the tests, benchmarks,
#                                  sanitizer/fuzz build and CI (the default)
#
# docs/building.md has the package counts on a fresh Debian 12.
# Idempotent: when everything is installed already it does nothing (no
# apt-get update). Uses sudo only when not running as root.
set -euo pipefail

MAIN_PACKAGES=(
  g++ cmake ninja-build                # toolchain (the CMakePresets.json `release` preset uses Ninja)
  libeigen3-dev                        # the core (required)
  libopenblas-dev liblapacke-dev       # MIR_USE_LAPACK
  nlohmann-json3-dev libzip-dev        # file readers (safetensors / npz), mir::io
  libcli11-dev                         # the mir command-line program
  libboost-dev                         # Boost.Math: Student's t for --ci (mir/metric/uncertainty.hpp)
)
PYTHON_PACKAGES=(
  pybind11-dev python3-dev             # the Python module (python/, MIR_BUILD_PYTHON)
  libdlpack-dev python3-numpy          # torch tensors through DLPack; NumPy arrays and the masks
)
TEST_PACKAGES=(
  build-essential git pkg-config       # CI checkout, the pkg-config consumption test
  clang-14 libclang-rt-14-dev          # sanitizer and fuzz build
  clang-format-14                      # the `format` stage (clang-format-diff-14)
  libxtensor-dev                       # tensor adapters (DLPack: in PYTHON_PACKAGES)
  libtorch-dev                         # libtorch adapter (tests and example; g++ only)
  catch2                               # tests (v2.13)
  libbenchmark-dev                     # benchmarks
  python3 python3-pytest               # tests/program (under pytest)
  python3-jsonschema                   # tests/program: the JSON against docs/schema/
  python3-scipy                        # bench/ baselines, examples/python, the tests' oracles
  python3-torch                        # tests/python (the dump script's masks vs the official slices)
  librsvg2-bin imagemagick time        # SVG test rendering; /usr/bin/time for bench/end_to_end.sh
  groff-base man-db                    # the man page: rendered without warnings, found by man after install
  doxygen                              # the API reference (ctest api_reference: no warnings)
  libopenmpi-dev openmpi-bin           # mir/mpi.hpp, mir compute --mpi and its mpirun tests
)

group="${1:-test}"
case "$group" in
  main) PACKAGES=("${MAIN_PACKAGES[@]}") ;;
  python) PACKAGES=("${MAIN_PACKAGES[@]}" "${PYTHON_PACKAGES[@]}") ;;
  test) PACKAGES=("${MAIN_PACKAGES[@]}" "${PYTHON_PACKAGES[@]}" "${TEST_PACKAGES[@]}") ;;
  *) echo "usage: $0 [main|python|test]   (main: the mir program; python: + import mir; test: everything, the default)" >&2; exit 2 ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages of group '$group' already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-deps: not root and no sudo; install these packages: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"
