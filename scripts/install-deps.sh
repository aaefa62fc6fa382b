#!/usr/bin/env bash
# Install every Debian package mir's build, tests and CI need.
# Idempotent: when everything is installed already it does nothing (no
# apt-get update). Uses sudo only when not running as root.
set -euo pipefail

PACKAGES=(
  # toolchains and build
  build-essential cmake ninja-build g++
  clang-14 libclang-rt-14-dev          # sanitizer (and later fuzz) build
  # library dependencies
  libeigen3-dev                        # the core (required)
  libopenblas-dev liblapacke-dev       # MIR_USE_LAPACK
  libxtensor-dev libdlpack-dev         # tensor adapters
  libtorch-dev                         # libtorch adapter (tests and example; g++ only)
  libboost-dev                         # Boost.Multiprecision oracle in tests
  nlohmann-json3-dev libzip-dev        # file readers (safetensors / npz)
  libcli11-dev                         # the mir command-line program
  catch2                               # tests (v2.13)
  libbenchmark-dev                     # benchmarks
  # figures and scripts
  librsvg2-bin imagemagick time        # SVG test rendering; /usr/bin/time for bench/end_to_end.sh
  python3 python3-numpy python3-scipy
)

missing=()
for p in "${PACKAGES[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
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
