#!/usr/bin/env bash
# scripts/test.sh — mir's single test command (.ci/run calls exactly this).
#
# Installs the Debian dependencies, then runs the CI stages in order, each
# under its own time budget (enforced with `timeout`), stopping at the first
# failure and printing a summary table at the end:
#
#   deps   scripts/install-deps.sh test (everything)                  10 min
#   format clang-format-14 on the C++ lines changed since the base     1 min
#   gcc    g++, Release, MIR_USE_LAPACK=ON (OpenBLAS + LAPACKE),
#          everything (tests, header checks, consumption, examples,
#          program, benchmarks built), ctest                          30 min
#   asan   clang-14, ASan+UBSan, -O0, MIR_USE_LAPACK=OFF (pure Eigen),
#          fuzzers built; no benchmarks, examples or header checks
#          (the gcc stage builds and runs those);
#          ctest -LE 'consumption|slow|fuzz'                          30 min
#   fuzz   fuzz smoke runs (ctest -L fuzz in the asan build)           5 min
#
# The builds are CMakePresets.json's configure/build/test presets of the same
# names (one definition: `cmake --preset gcc` etc. by hand give the same
# builds); this script adds ccache when installed and the job count.
# The sanitizer build is kept small because it is the slowest to compile
# (a fresh 2-core machine has no compiler cache): -O0 compiles in half the
# time of -O1 and the suite still runs in minutes; the program's sources are
# compiled once for mir and fuzz_cli. The pure-Eigen build is the sanitizer
# build: one build fewer on the 2-core CI machine, and the suite still runs both with and without LAPACK. A
# separate g++ pure-Eigen stage is available by name: scripts/test.sh eigen.
# The test presets leave out tests labelled `gpu`; they run (ctest -L gpu)
# only when nvidia-smi sees a GPU. BLAS runs single-threaded under ctest
# (tests run in parallel instead).
#
# The format stage checks only the lines changed against the merge base with
# origin/main (HEAD~1 when there is no origin/main): `git diff -U0 <base>` of
# the C++ files through clang-format-diff-14 -p1; any reformatting it would
# do fails the stage. MIR_FORMAT_BASE=<rev> overrides the base.
#
# Usage: scripts/test.sh [stage...]     (default: deps format gcc asan fuzz)
# Environment: MIR_JOBS (default nproc), MIR_CI_FRESH=1 (delete the build
# directories first), MIR_CI_SKIP_DEPS=1 (skip the deps stage).
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_STAGES=(deps format gcc asan fuzz)
declare -A BUDGET=([deps]=600 [format]=60 [gcc]=1800 [eigen]=1200 [asan]=1800 [fuzz]=300)
declare -A DESCR=(
  [deps]="install Debian packages"
  [format]="clang-format on changed lines"
  [gcc]="g++ Release, LAPACK on"
  [eigen]="g++ Release, pure Eigen"
  [asan]="clang-14 ASan+UBSan, pure Eigen"
  [fuzz]="fuzz smoke runs"
)
TARGET_TOTAL_S=2700   # keep the whole under 45 minutes on the 2-core machine

JOBS="${MIR_JOBS:-$(nproc)}"
CMAKE_EXTRA=()
if command -v ccache >/dev/null 2>&1; then
  CMAKE_EXTRA+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

have_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }

# build_dir <preset>: the preset's binaryDir (build/ci-<preset>).
build_dir() { echo "build/ci-$1"; }

configure() {  # configure <preset> [cmake args...]
  local preset=$1
  shift
  if [[ "${MIR_CI_FRESH:-0}" == 1 ]]; then rm -rf "$(build_dir "$preset")"; fi
  cmake --preset "$preset" "${CMAKE_EXTRA[@]}" "$@"
}

run_ctest() {  # run_ctest <test preset> [ctest args...]: the preset, then its gpu tests when there is a GPU
  local preset=$1
  shift
  ctest --preset "$preset" -j "$JOBS" "$@"
  if have_gpu; then
    ctest --preset "$preset" -j "$JOBS" -L gpu --no-tests=ignore "$@"
  fi
}

build_and_test() {  # build_and_test <preset>
  configure "$1"
  cmake --build --preset "$1" -j "$JOBS"
  run_ctest "$1"
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
  bash scripts/install-deps.sh test
}

stage_format() {
  if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "format: not a git checkout; nothing to compare"
    return 0
  fi
  local base="${MIR_FORMAT_BASE:-}"
  if [[ -z "$base" ]]; then
    if git rev-parse -q --verify origin/main >/dev/null; then
      base=$(git merge-base origin/main HEAD)
    else
      base=HEAD~1
    fi
  fi
  echo "format: lines changed since $(git rev-parse --short "$base") (clang-format-14, .clang-format)"
  local out
  out=$(git diff -U0 --no-color "$base" -- '*.cpp' '*.hpp' '*.h' '*.cu' '*.cuh' | clang-format-diff-14 -p1)
  if [[ -n "$out" ]]; then
    echo "$out"
    echo "format: the changed lines above are not formatted as .clang-format says;" \
         "fix with: git diff -U0 $base | clang-format-diff-14 -p1 -i" >&2
    return 1
  fi
  echo "format: ok"
}

stage_gcc() { build_and_test gcc; }

stage_eigen() { build_and_test eigen; }   # benchmarks are built (with LAPACK) in the gcc stage only

stage_asan() {
  sanitizer_env
  build_and_test asan
}

stage_fuzz() {
  local dir
  dir=$(build_dir asan)
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
  ctest --preset fuzz -j "$JOBS"
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
