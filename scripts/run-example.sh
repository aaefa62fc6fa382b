#!/usr/bin/env bash
# scripts/run-example.sh — the main job on the bundled example: installs the
# Debian packages, builds the `mir` program (Release) and runs
#   mir compute examples/data --plot build/example/fid.svg
# printing the per-layer table and MIR. Extra arguments go to `mir compute`
# (e.g. --outliers drop, --sqrt reference-fast, --json -).
#
# examples/data holds 8 synthetic samples (K = 6, d = 128, f16) written by
#   mir synth examples/data --num-layers 6 --dim 128 --samples 8 \
#       --vision-tokens 48 --text-tokens 40-80 --seed 2025
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${MIR_SKIP_DEPS:-0}" != 1 ]]; then bash scripts/install-deps.sh; fi
build=build/example
gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DMIR_BUILD_TESTS=OFF -DMIR_BUILD_BENCHMARKS=OFF \
  -DMIR_BUILD_EXAMPLES=OFF -DMIR_BUILD_TOOLS=ON >/dev/null
cmake --build "$build" --target mir_tool -j "$(nproc)"
"$build/tools/mir/mir" compute examples/data --plot "$build/fid.svg" "$@"
