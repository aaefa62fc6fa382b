#!/usr/bin/env bash
# ctest pymodule_install: the python component installed into a scratch prefix
# imports from an unrelated directory with the installed files (not the build
# tree), and the install directory is one the interpreter searches under the
# default prefix /usr/local (what scripts/install-python.sh installs into).
# Usage: install_check.sh BUILD_DIR INSTALL_DIR PYTHON
set -euo pipefail
build=$1 rel=$2 python=$3
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --component python --prefix "$prefix" >/dev/null
test -f "$prefix/$rel/mir/__init__.py" || { echo "no mir/__init__.py under $prefix/$rel" >&2; exit 1; }
cd /
PYTHONPATH="$prefix/$rel" "$python" -c "
import sys, mir
assert mir.__file__.startswith('$prefix/'), mir.__file__
acc = mir.Accumulator(3, 4, outliers='none', memory='rows')
print('installed mir', mir.__version__, 'imports from', mir.__file__)
"
"$python" -c "
import sys
want = '/usr/local/$rel'
assert want in sys.path, (want, sys.path)
print(want, 'is on', sys.executable, 'sys.path')
"
