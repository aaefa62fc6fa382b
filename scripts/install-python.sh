#!/usr/bin/env bash
# Installs `import mir` for Debian's /usr/bin/python3, offline: the Debian
# packages it needs (scripts/install-deps.sh python; no pip, no package index,
# no build isolation), then the extension built from this checkout with CMake
# and installed into /usr/local/lib/python3.X/dist-packages, where
# /usr/bin/python3 finds it from any directory. Afterwards:
#
#     /usr/bin/python3 -c "import mir; print(mir.__version__)"
#
# PyTorch (python3-torch) is optional: the module reads NumPy arrays without
# it; torch tensors, mir.HiddenStateHook and all_reduce need it.
#
# Environment: MIR_PYTHON_BUILD_DIR (default build/python; an existing
# configured build, e.g. build/ci-gcc, is reused), MIR_PYTHON_PREFIX (default
# /usr/local), MIR_JOBS (default: nproc). Uses sudo to install when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh python

build="${MIR_PYTHON_BUILD_DIR:-build/python}"
prefix="${MIR_PYTHON_PREFIX:-/usr/local}"
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DMIR_BUILD_TESTS=OFF -DMIR_BUILD_BENCHMARKS=OFF -DMIR_BUILD_EXAMPLES=OFF -DMIR_BUILD_DOCS=OFF \
    -DMIR_BUILD_TOOLS=ON -DMIR_BUILD_PYTHON=ON -DPython_EXECUTABLE=/usr/bin/python3
fi
cmake --build "$build" --target mir_python -j "${MIR_JOBS:-$(nproc)}"

SUDO=()
if [[ "$(id -u)" -ne 0 && ! -w "$prefix" ]]; then
  SUDO=(sudo)
fi
"${SUDO[@]}" cmake --install "$build" --component python --prefix "$prefix"

cd /
/usr/bin/python3 -c "import mir; print('install-python: mir', mir.__version__, 'installed at', mir.__path__[0])"
