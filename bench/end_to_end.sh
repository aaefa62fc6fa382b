#!/usr/bin/env bash
# bench/end_to_end.sh — the program against the official accurate mode, and
# its peak memory against the number of files (issue "The mir program").
#
#   speed:  K = 4, 24 samples, 96 vision + 120-200 text tokens, BF16, d = 1024
#           and 2048: `mir compute` vs bench/official_accurate.py (numpy/scipy)
#   memory: K = 8, d = 256, 64 vision + 60-100 text tokens, F16, 10 and 100
#           samples: peak RSS of `mir compute` from /usr/bin/time -v
#
# usage: bench/end_to_end.sh [BUILD_DIR]   (default build/bench-e2e; builds the program in Release)
#
# Both sides run with one BLAS thread unless OPENBLAS_NUM_THREADS is set:
# on a shared machine OpenBLAS's pthreads back end collapses when its
# threads are descheduled (measured here: one d = 2048 layer took 50 s with
# the default threads under load 5, 3.7 s with one thread), which would
# make the comparison measure the load rather than the code.
set -euo pipefail
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
cd "$(dirname "$0")/.."
build=${1:-build/bench-e2e}
work=$build/e2e-data
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DMIR_BUILD_TESTS=OFF -DMIR_BUILD_BENCHMARKS=OFF \
  -DMIR_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" --target mir_tool -j "$(nproc)" >/dev/null
mir=$build/tools/mir/mir
mkdir -p "$work"

echo "## speed (seconds; mir wall time from /usr/bin/time, baseline from its own timer)"
for d in ${MIR_E2E_DIMS:-1024 2048}; do
  dir=$work/speed_d$d
  [[ -d $dir ]] || "$mir" synth "$dir" --num-layers 4 --dim $d --samples 24 --vision-tokens 96 \
      --text-tokens 120-200 --dtype bf16 --seed 1 >/dev/null
  /usr/bin/time -f "%e %M" -o "$work/t_mir_$d" "$mir" compute "$dir" --json "$work/mir_$d.json" --quiet >/dev/null
  base=$(/usr/bin/python3 bench/official_accurate.py "$dir")
  mir_s=$(cut -d' ' -f1 "$work/t_mir_$d")
  /usr/bin/python3 - "$base" "$mir_s" "$work/mir_$d.json" $d <<'PY'
import json, sys
base, mir_s, mj, d = json.loads(sys.argv[1]), float(sys.argv[2]), json.load(open(sys.argv[3])), sys.argv[4]
print(f"d={d}: mir {mir_s:.2f} s (MIR {mj['mir']:.6f}), numpy/scipy accurate {base['seconds']:.2f} s "
      f"(MIR {base['mir']:.6f}), speed-up {base['seconds'] / mir_s:.1f}x")
PY
done

echo "## memory (peak RSS, KiB)"
for n in ${MIR_E2E_SAMPLES:-10 100}; do
  dir=$work/mem_n$n
  [[ -d $dir ]] || "$mir" synth "$dir" --num-layers 8 --dim 256 --samples $n --vision-tokens 64 \
      --text-tokens 60-100 --dtype f16 --seed 3 >/dev/null
  /usr/bin/time -v "$mir" compute "$dir" --quiet >/dev/null 2>"$work/mem_$n.txt"
  echo "$n samples: $(grep 'Maximum resident' "$work/mem_$n.txt" | awk '{print $NF}') KiB"
done
