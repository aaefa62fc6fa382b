#!/usr/bin/env bash
# scripts/test.sh — mir's single test command (.ci/run calls exactly this).
#
# Installs the Debian dependencies, then runs the CI stages in order, each
# under its own time budget (enforced with `timeout`), stopping at the first
# failure and printing a summary table at the end:
#
#   deps   scripts/install-deps.sh                                    10 min
#   gcc    g++, Release, MIR_USE_LAPACK=ON (OpenBLAS + LAPACKE),
#          everything (tests, header checks, consumption, examples,
#          program, benchmarks built), ctest                          25 min
#   asan   clang-14, ASan+UBSan, -O1, MIR_USE_LAPACK=OFF (pure Eigen),
#          no benchmarks, fuzzers built;
#          ctest -LE 'consumption|slow|fuzz'                          30 min
#   fuzz   fuzz smoke runs (ctest -L fuzz in the asan build)           5 min
#
# The pure-Eigen build is the sanitizer build: one build fewer on the 2-core
# CI machine, and the suite still runs both with and without LAPACK. A
# separate g++ pure-Eigen stage is available by name: scripts/test.sh eigen.
# Tests labelled `gpu` run only when nvidia-smi sees a GPU. BLAS runs
# single-threaded under ctest (tests run in parallel instead).
#
# Usage: scripts/test.sh [stage...]     (default: deps gcc asan fuzz)
# Environment: MIR_JOBS (default nproc), MIR_CI_FRESH=1 (delete the build
# directories first), MIR_CI_SKIP_DEPS=1 (skip the deps stage).
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_STAGES=(deps gcc asan fuzz)
declare -A BUDGET=([deps]=600 [gcc]=1500 [eigen]=1200 [asan]=1800 [fuzz]=300)
declare -A DESCR=(
  [deps]="install Debian packages"
  [gcc]="g++ Release, LAPACK on"
  [eigen]="g++ Release, pure Eigen"
  [asan]="clang-14 ASan+UBSan, pure Eigen"
  [fuzz]="fuzz smoke runs"
)
TARGET_TOTAL_S=2700   # keep the whole under 45 minutes on the 2-core machine

JOBS="${MIR_JOBS:-$(nproc)}"
CMAKE_COMMON=(-DMIR_BUILD_TESTS=ON -DMIR_WERROR=ON)
if command -v ninja >/dev/null 2>&1; then
  CMAKE_COMMON+=(-G Ninja)
fi
if command -v ccache >/dev/null 2>&1; then
  CMAKE_COMMON+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
CTEST_COMMON=(--output-on-failure --no-tests=error --timeout 900 -j "$JOBS")

have_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }

# ctest -LE regex: the given labels, plus `gpu` when there is no GPU.
exclude_labels() {
  local labels=("$@")
  have_gpu || labels+=(gpu)
  if ((${#labels[@]})); then
    local IFS='|'
    echo "${labels[*]}"
  fi
}

configure() {  # configure <build dir> <cmake args...>
  local dir=$1
  shift
  if [[ "${MIR_CI_FRESH:-0}" == 1 ]]; then rm -rf "$dir"; fi
  cmake -S . -B "$dir" "${CMAKE_COMMON[@]}" "$@"
}

run_ctest() {  # run_ctest <build dir> <exclude regex or empty> [ctest args...]
  local dir=$1 le=$2
  export OPENBLAS_NUM_THREADS=1  # ctest runs tests in parallel; don't oversubscribe
  shift 2
  local args=("${CTEST_COMMON[@]}")
  [[ -n "$le" ]] && args+=(-LE "$le")
  ctest --test-dir "$dir" "${args[@]}" "$@"
}

sanitizer_env() {
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  # LeakSanitizer needs ptrace-like support some containers lack; probe it.
  local probe_dir
  probe_dir=$(mktemp -d)
  echo 'int main() { return 0; }' > "$probe_dir/p.cpp"
  local leaks=1
  if clang++-14 -fsanitize=address "$probe_dir/p.cpp" -o "$probe_dir/p" 2>/dev/null; then
    if ! ASAN_OPTIONS=detect_leaks=1 "$probe_dir/p" >/dev/null 2>&1; then
      echo "note: LeakSanitizer does not work here; running with detect_leaks=0"
      leaks=0
    fi
  fi
  rm -rf "$probe_dir"
  export ASAN_OPTIONS="detect_leaks=${leaks}:strict_string_checks=1:check_initialization_order=1"
}

stage_deps() {
  bash scripts/install-deps.sh
}

stage_gcc() {
  local dir=build/ci-gcc
  configure "$dir" -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Release \
    -DMIR_USE_LAPACK=ON -DMIR_SANITIZE=OFF
  cmake --build "$dir" -j "$JOBS"
  run_ctest "$dir" "$(exclude_labels)"
}

stage_eigen() {
  # Benchmarks are built (with LAPACK) in the gcc stage; skip them here.
  local dir=build/ci-eigen
  configure "$dir" -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Release \
    -DMIR_USE_LAPACK=OFF -DMIR_SANITIZE=OFF -DMIR_BUILD_BENCHMARKS=OFF
  cmake --build "$dir" -j "$JOBS"
  run_ctest "$dir" "$(exclude_labels)"
}

stage_asan() {
  local dir=build/ci-asan
  sanitizer_env
  configure "$dir" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=Debug \
    "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -gline-tables-only" -DMIR_SANITIZE=ON -DMIR_USE_LAPACK=OFF \
    -DMIR_BUILD_BENCHMARKS=OFF -DMIR_BUILD_FUZZERS=ON
  cmake --build "$dir" -j "$JOBS"
  run_ctest "$dir" "$(exclude_labels consumption slow fuzz)"
}

stage_fuzz() {
  local dir=build/ci-asan
  if [[ ! -f "$dir/CTestTestfile.cmake" ]]; then
    echo "fuzz: $dir is not configured (run the asan stage first)" >&2
    return 1
  fi
  local n
  n=$(ctest --test-dir "$dir" -N -L fuzz | sed -n 's/^Total Tests: *//p')
  if [[ -z "$n" || "$n" == 0 ]]; then
    echo "no fuzz targets yet"
    return 0
  fi
  sanitizer_env
  ctest --test-dir "$dir" -L fuzz "${CTEST_COMMON[@]}"
}

# --- internal entry point: one stage, run under `timeout` by the driver ------
if [[ "${1:-}" == "--stage" ]]; then
  "stage_$2"
  exit
fi

# --- driver --------------------------------------------------------------------
if (($#)); then
  STAGES=("$@")
  for s in "${STAGES[@]}"; do
    [[ -n "${BUDGET[$s]:-}" ]] || { echo "unknown stage '$s' (stages: ${ALL_STAGES[*]})" >&2; exit 2; }
  done
else
  STAGES=("${ALL_STAGES[@]}")
  [[ "${MIR_CI_SKIP_DEPS:-0}" == 1 ]] && STAGES=("${STAGES[@]:1}")
fi

declare -A RESULT ELAPSED
T0=$(date +%s)

summary() {
  local total=$(( $(date +%s) - T0 ))
  echo
  echo "================ mir test summary ================"
  printf '%-7s %-32s %8s %8s  %s\n' stage description budget elapsed result
  for s in "${STAGES[@]}"; do
    local el="-"
    [[ -n "${ELAPSED[$s]:-}" ]] && el="${ELAPSED[$s]}s"
    printf '%-7s %-32s %7ss %8s  %s\n' "$s" "${DESCR[$s]}" "${BUDGET[$s]}" "$el" "${RESULT[$s]:-skipped}"
  done
  printf 'total %dm%02ds (target < %d min, %d jobs)\n' $((total / 60)) $((total % 60)) \
    $((TARGET_TOTAL_S / 60)) "$JOBS"
  if ((total > TARGET_TOTAL_S)); then
    echo "warning: the run took longer than the ${TARGET_TOTAL_S}s target"
  fi
}
trap summary EXIT

for s in "${STAGES[@]}"; do
  echo
  echo "================ stage $s: ${DESCR[$s]} (budget ${BUDGET[$s]}s) ================"
  t=$(date +%s)
  # In the background so that Ctrl-C / TERM reach it: `timeout` runs the
  # stage in its own process group and kills all of it when the budget ends.
  timeout -k 30 "${BUDGET[$s]}" bash "$0" --stage "$s" &
  child=$!
  trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; RESULT[$s]=interrupted; exit 130' INT TERM
  set +e
  wait "$child"
  rc=$?
  set -e
  trap - INT TERM
  ELAPSED[$s]=$(( $(date +%s) - t ))
  case $rc in
    0) RESULT[$s]=ok ;;
    124 | 137) RESULT[$s]="TIMEOUT (over ${BUDGET[$s]}s)" ;;
    *) RESULT[$s]="FAILED (exit $rc)" ;;
  esac
  echo "---------------- stage $s: ${RESULT[$s]} after ${ELAPSED[$s]}s ----------------"
  if ((rc != 0)); then
    exit "$rc"
  fi
done
