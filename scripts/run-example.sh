#!/usr/bin/env bash
# scripts/run-example.sh — the main job on the bundled example: installs the
# program's Debian packages (scripts/install-deps.sh main), builds the `mir`
# program (the CMakePresets.json `release` preset, build/example) and runs
#   mir compute examples/data --plot build/example/fid.svg
# printing the per-layer table and MIR. Extra arguments go to `mir compute`
# (e.g. --outliers drop, --sqrt official-fast, --json -).
#
# examples/data holds 8 synthetic samples (K = 6, d = 128, f16) written by
#   mir synth examples/data --num-layers 6 --dim 128 --samples 8 \
#       --vision-tokens 48 --text-tokens 40-80 --seed 2025
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${MIR_SKIP_DEPS:-0}" != 1 ]]; then bash scripts/install-deps.sh main; fi
build=build/example   # the release preset's binaryDir
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
"$build/tools/mir/mir" compute examples/data --plot "$build/fid.svg" "$@"
