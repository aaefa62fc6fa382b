#!/usr/bin/env bash
# run_benchmarks.sh — builds mir's benchmarks (Release, default compiler
# flags: no -march=native) in build/bench and runs them, writing JSON and
# printing the ratio tables of docs/performance.md.
#
#   bench/run_benchmarks.sh                 # everything (about 20 min on 2 busy cores)
#   MIR_BENCH_REPETITIONS=5 bench/run_benchmarks.sh
#   MIR_BENCH_ONLY=accumulate bench/run_benchmarks.sh   # trace_sqrt | eigen | accumulate
#
# Environment:
#   MIR_BENCH_BUILD_DIR    build tree (default: <repo>/build/bench)
#   MIR_BENCH_OUT          JSON output folder (default: <build>/results)
#   MIR_BENCH_REPETITIONS  repetitions per benchmark (default 3)
#   MIR_BENCH_ONLY         run only one executable (see above)
#   MIR_BENCH_ARGS         extra Google Benchmark flags (e.g. --benchmark_filter=...)
#   OPENBLAS_NUM_THREADS   left as is (OpenBLAS then uses every core)
#   OPENBLAS_CORETYPE      left as is when set. When unset and OpenBLAS's
#                          runtime detection falls back to the generic
#                          "Prescott" (SSE3) kernels on a CPU with AVX-512
#                          (Debian's OpenBLAS 0.3.21 does not know CPUs newer
#                          than its release, e.g. family 6 model 207), the
#                          script sets OPENBLAS_CORETYPE=SkylakeX and says so;
#                          set OPENBLAS_CORETYPE=Prescott to measure the
#                          detected default instead.
# Runs interleave the repetitions of all benchmarks of an executable in
# random order (--benchmark_enable_random_interleaving), so that a burst of
# load from other processes spreads over all of them instead of skewing one.
# Ratios are only formed between numbers of the same executable run; on a
# shared machine rerun when the coefficient of variation (cv) looks high.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${MIR_BENCH_BUILD_DIR:-$root/build/bench}
out=${MIR_BENCH_OUT:-$build/results}
reps=${MIR_BENCH_REPETITIONS:-3}
only=${MIR_BENCH_ONLY:-all}
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S "$root" -B "$build" \
  -DCMAKE_BUILD_TYPE=Release \
  -DMIR_BUILD_BENCHMARKS=ON \
  -DMIR_BUILD_TESTS=OFF -DMIR_BUILD_EXAMPLES=OFF -DMIR_BUILD_TOOLS=OFF \
  -DMIR_USE_LAPACK=ON
cmake --build "$build" -j "$jobs" \
  --target mir_bench_trace_sqrt mir_bench_trace_sqrt_eigen mir_bench_accumulate

mkdir -p "$out"

openblas_core() {  # the kernel set OpenBLAS picks in this environment
  OPENBLAS_VERBOSE=2 "$build/bench/mir_bench_accumulate" --benchmark_filter='^$' 2>&1 |
    sed -n 's/^Core: *//p' | tail -n 1
}
if [[ -z ${OPENBLAS_CORETYPE:-} ]]; then
  detected=$(openblas_core || true)
  if [[ $detected == Prescott ]] && grep -qw avx512f /proc/cpuinfo; then
    echo "== OpenBLAS detected core 'Prescott' (generic SSE3 kernels) on an AVX-512 CPU;"
    echo "== setting OPENBLAS_CORETYPE=SkylakeX (export OPENBLAS_CORETYPE=Prescott to keep the default)"
    export OPENBLAS_CORETYPE=SkylakeX
  fi
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
fam=$(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
model=$(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
echo "== date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "== machine: $(nproc) cores, $cpu (family $fam model $model)"
echo "== OpenBLAS core: $(openblas_core || echo '?') (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}," \
     "OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-unset})"
echo "== compiler: $(${CXX:-c++} --version | head -n 1)"
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  dirty=$(git -C "$root" status --porcelain --untracked-files=no -- include bench CMakeLists.txt cmake | wc -l)
  echo "== source: commit $(git -C "$root" rev-parse --short HEAD)" \
       "$([[ $dirty -gt 0 ]] && echo "plus uncommitted changes to $dirty tracked file(s) under include/ bench/ cmake/")"
fi
echo "== repetitions: $reps; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

run() {  # run <executable> <json name>
  local exe=$build/bench/$1 json=$out/$2.json
  echo "== $1 -> $json"
  # shellcheck disable=SC2086
  "$exe" --benchmark_repetitions="$reps" \
         --benchmark_report_aggregates_only=true \
         --benchmark_enable_random_interleaving=true \
         --benchmark_out="$json" --benchmark_out_format=json \
         ${MIR_BENCH_ARGS:-}
}

files=()
if [[ $only == all || $only == trace_sqrt ]]; then run mir_bench_trace_sqrt trace_sqrt; files+=("$out/trace_sqrt.json"); fi
if [[ $only == all || $only == eigen ]]; then run mir_bench_trace_sqrt_eigen trace_sqrt_eigen; files+=("$out/trace_sqrt_eigen.json"); fi
if [[ $only == all || $only == accumulate ]]; then run mir_bench_accumulate accumulate; files+=("$out/accumulate.json"); fi

echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 "$root/bench/ratios.py" "${files[@]}" | tee "$out/ratios.md"
