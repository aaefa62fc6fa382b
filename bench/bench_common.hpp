// bench/bench_common.hpp — what the paired benchmarks share: the LAPACK
// switch, the clock, the paired timing of mir against its baseline and main().
#pragma once

#include <mir/config.hpp>

#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include <chrono>
#include <string>

#ifndef MIR_BENCH_HAVE_LAPACK
#define MIR_BENCH_HAVE_LAPACK 0
#endif
#if MIR_BENCH_HAVE_LAPACK
#include <cblas.h>
#endif

namespace mir_bench {

using clock_type = std::chrono::steady_clock;

inline double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// One paired iteration: `mir` and `baseline` back to back, in the order
/// `mir_first` says, which then flips, so that load from other processes (the
/// machine is shared) hits both alike. Returns mir's seconds and adds the
/// baseline's to `t_baseline`. The caller keeps `mir_first` across
/// repetitions (an odd iteration count would favour one order).
template <class Mir, class Baseline>
double time_paired(bool& mir_first, Mir&& mir, Baseline&& baseline, double& t_baseline) {
    double t_mir = 0.0;
    for (int part = 0; part < 2; ++part) {
        const auto t0 = clock_type::now();
        if ((part == 0) == mir_first) {
            mir();
            t_mir = seconds_since(t0);
        } else {
            baseline();
            t_baseline += seconds_since(t0);
        }
    }
    mir_first = !mir_first;
    return t_mir;
}

/// The body of main(): Google Benchmark's flags, the build's context
/// (mir_use_lapack, mir_bench_have_lapack, then `context()`'s own, then
/// eigen_simd), and the runs.
template <class Context>
int run_benchmarks(int argc, char** argv, Context&& context) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("mir_use_lapack", std::to_string(MIR_USE_LAPACK));
    benchmark::AddCustomContext("mir_bench_have_lapack", std::to_string(MIR_BENCH_HAVE_LAPACK));
    context();
    benchmark::AddCustomContext("eigen_simd", Eigen::SimdInstructionSetsInUse());
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}

}  // namespace mir_bench
