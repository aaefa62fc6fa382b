// bench_trace_sqrt.cpp — mir::trace_sqrt_product against the composed
// LAPACK bound (dpotrf + two dtrmm + dsyevd eigenvalues only).
//
// This file is compiled twice (two executables, never two TUs of one
// binary: the inline kernels of mir/backend/ differ between the two
// settings and mixing them in one program would be an ODR violation):
//   mir_bench_trace_sqrt        MIR_USE_LAPACK as the mir target sets it (1)
//   mir_bench_trace_sqrt_eigen  through bench_trace_sqrt_eigen.cpp, which
//                               forces MIR_USE_LAPACK to 0 before any header
// The bound itself calls CBLAS/LAPACKE directly, so it is available in both
// executables whenever the build has them (MIR_BENCH_HAVE_LAPACK=1); each
// executable therefore reports its own ratio against a bound measured in
// the same process.
//
// Results are kept alive with DoNotOptimize on a *const* reference: the
// non-const overload's "+m,r" asm constraint corrupts doubles under GCC -O3
// (google/benchmark#903, GCC PR 92597) — seen here as value=4.6e-310.
//
// Benchmarks (argument: d):
//   BM_trace_sqrt/d     mir::trace_sqrt_product paired with the composed
//                       bound (input copies included: dpotrf and dtrmm work
//                       in place and the API takes const references); the
//                       reported time is mir's, counters bound_ms and
//                       ratio_vs_bound = Σ t_mir / Σ t_bound
//   BM_trace_sqrt_passes_mir/d, BM_trace_sqrt_passes_bound/d
//                       diagnostics: the memory passes (copies, checks,
//                       allocations) each makes around the kernels
#include <mir/config.hpp>
#include <mir/linalg/trace_sqrt.hpp>

#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bench_common.hpp"
#if MIR_BENCH_HAVE_LAPACK
#include <lapacke.h>
#endif

namespace {

struct spd_pair {
    Eigen::MatrixXd s1;
    Eigen::MatrixXd s2;
};

// S = A Aᵀ / n + 1e-3 I with A d × n, n = 2d, entries N(0, 1) with a
// per-column scale spread over two decades (so the spectrum is not flat).
// Full symmetric storage, like moments::covariance() returns.
Eigen::MatrixXd make_spd(Eigen::Index d, std::mt19937_64& rng) {
    const Eigen::Index n = 2 * d;
    std::normal_distribution<double> normal(0.0, 1.0);
    Eigen::MatrixXd a(d, n);
    for (Eigen::Index j = 0; j < n; ++j) {
        for (Eigen::Index i = 0; i < d; ++i) a(i, j) = normal(rng);
    }
    for (Eigen::Index i = 0; i < d; ++i) {
        a.row(i) *= std::pow(10.0, static_cast<double>(i % 97) / 96.0 - 1.0);
    }
    Eigen::MatrixXd s = Eigen::MatrixXd::Zero(d, d);
#if MIR_BENCH_HAVE_LAPACK
    cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, static_cast<int>(d), static_cast<int>(n),
                1.0 / static_cast<double>(n), a.data(), static_cast<int>(d), 0.0, s.data(), static_cast<int>(d));
#else
    s.selfadjointView<Eigen::Lower>().rankUpdate(a, 1.0 / static_cast<double>(n));
#endif
    s.triangularView<Eigen::StrictlyUpper>() = s.transpose();
    s.diagonal().array() += 1e-3;
    return s;
}

// Generated once per size and cached for the life of the process.
const spd_pair& inputs(Eigen::Index d) {
    static std::map<Eigen::Index, std::unique_ptr<spd_pair>> cache;
    auto& slot = cache[d];
    if (!slot) {
        std::mt19937_64 rng(0x5eed0000ULL + static_cast<unsigned long long>(d));
        slot = std::make_unique<spd_pair>();
        slot->s1 = make_spd(d, rng);
        slot->s2 = make_spd(d, rng);
    }
    return *slot;
}

// Nominal flop counts of the three kernels, for a GFLOP/s figure:
// dpotrf d³/3, each dtrmm (square, triangular) d³, dsyevd('N') ≈ 4d³/3.
double bound_flops(double d) { return d * d * d * (1.0 / 3.0 + 2.0 + 4.0 / 3.0); }

#if MIR_BENCH_HAVE_LAPACK
// The composed bound: Tr (S1 S2)^{1/2} via L = chol(S1), W = Lᵀ S2 L,
// eigenvalues of W, Σ √λ over λ above the shared cut-off. Same shape as the
// API (const inputs, a double out), so it allocates its two work matrices
// per call, as any implementation of that API must.
double composed_bound(const Eigen::MatrixXd& s1, const Eigen::MatrixXd& s2) {
    const int n = static_cast<int>(s1.rows());
    Eigen::MatrixXd l = s1;  // in-place factorisation needs a copy of the const input
    Eigen::MatrixXd w = s2;  // W := S2, then W := S2 L, then W := Lᵀ W
    if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', n, l.data(), n) != 0) {
        throw std::runtime_error("bound: S1 is not positive definite");
    }
    cblas_dtrmm(CblasColMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, n, n, 1.0, l.data(), n, w.data(),
                n);
    cblas_dtrmm(CblasColMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, n, n, 1.0, l.data(), n, w.data(), n);
    Eigen::VectorXd lambda(n);
    if (LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'N', 'L', n, w.data(), n, lambda.data()) != 0) {
        throw std::runtime_error("bound: dsyevd failed");
    }
    return mir::sum_sqrt_eigenvalues(lambda).sum_sqrt;
}
#endif

// mir::trace_sqrt_product, paired with the bound: every iteration times
// both, back to back, alternating which goes first, so that load from other
// processes (the machine is shared) hits both alike. The benchmark's time
// (manual time) is mir's; the counters carry the bound's time and the ratio
// Σ t_mir / Σ t_bound over the iterations of the repetition.
void BM_trace_sqrt(benchmark::State& state) {
    const auto d = static_cast<Eigen::Index>(state.range(0));
    const spd_pair& in = inputs(d);
    mir::trace_sqrt_result r;
    double t_mir = 0.0;
    double t_bound = 0.0;
    double bound_value = 0.0;
    // Which goes first alternates per iteration and carries over from one
    // repetition to the next (one iteration per repetition at d = 4096).
    static std::map<Eigen::Index, bool> first_flag;
    bool& mir_first = first_flag.try_emplace(d, true).first->second;
    for (auto _ : state) {
        const double this_mir = mir_bench::time_paired(
            mir_first,
            [&] {
                r = mir::trace_sqrt_product_detailed(in.s1, in.s2);
                benchmark::DoNotOptimize(std::as_const(r.value));
            },
            [&] {
#if MIR_BENCH_HAVE_LAPACK
                bound_value = composed_bound(in.s1, in.s2);
                benchmark::DoNotOptimize(std::as_const(bound_value));
#endif
            },
            t_bound);
        t_mir += this_mir;
        state.SetIterationTime(this_mir);
    }
    const auto iters = static_cast<double>(state.iterations());
    state.counters["value"] = r.value;
    state.counters["mir_use_lapack"] = MIR_USE_LAPACK;
    state.counters["GFLOPs"] =
        benchmark::Counter(bound_flops(static_cast<double>(d)) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
#if MIR_BENCH_HAVE_LAPACK
    state.counters["bound_ms"] = 1e3 * t_bound / iters;
    state.counters["ratio_vs_bound"] = t_mir / t_bound;
    state.counters["rel_diff_vs_bound"] = std::abs(r.value - bound_value) / std::abs(bound_value);
#else
    static_cast<void>(t_bound);
    static_cast<void>(bound_value);
    static_cast<void>(iters);
#endif
    state.SetLabel(std::string(mir::to_string(r.route)) + (MIR_USE_LAPACK ? " lapack" : " eigen"));
}

// Diagnostics: the memory traffic around the kernels, allocations
// included (fresh large matrices are fresh pages: each first touch is a page
// fault). BM_trace_sqrt_passes_mir repeats what trace_sqrt_product does on
// the LAPACK Cholesky route besides dpotrf/dtrmm/dsyevd: both allFinite
// checks, the copy of S1, the zeroing of its strict upper triangle after
// dpotrf, full(S2) (a copy plus a transposed triangular assignment) and the
// copy of that inside congruence_lower. BM_trace_sqrt_passes_bound is the
// bound's share: two plain copies. The difference is mir's overhead.
void BM_trace_sqrt_passes_mir(benchmark::State& state) {
    const auto d = static_cast<Eigen::Index>(state.range(0));
    const spd_pair& in = inputs(d);
    for (auto _ : state) {
        bool finite = in.s1.allFinite() && in.s2.allFinite();
        benchmark::DoNotOptimize(std::as_const(finite));
        Eigen::MatrixXd l = in.s1;
        l.triangularView<Eigen::StrictlyUpper>().setZero();
        Eigen::MatrixXd f = in.s2;
        f.triangularView<Eigen::StrictlyUpper>() = f.transpose();
        Eigen::MatrixXd w = f;
        benchmark::DoNotOptimize(l.data());
        benchmark::DoNotOptimize(w.data());
        benchmark::ClobberMemory();
    }
}

void BM_trace_sqrt_passes_bound(benchmark::State& state) {
    const auto d = static_cast<Eigen::Index>(state.range(0));
    const spd_pair& in = inputs(d);
    for (auto _ : state) {
        Eigen::MatrixXd l = in.s1;
        Eigen::MatrixXd w = in.s2;
        benchmark::DoNotOptimize(l.data());
        benchmark::DoNotOptimize(w.data());
        benchmark::ClobberMemory();
    }
}

// "min"/"max" next to Google Benchmark's mean/median/stddev/cv aggregates:
// the least and most disturbed repetition on a shared machine.
double minimum(const std::vector<double>& v) { return v.empty() ? 0.0 : *std::min_element(v.begin(), v.end()); }
double maximum(const std::vector<double>& v) { return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()); }

// Fixed iteration counts (one call at d = 4096 takes seconds); each
// repetition (--benchmark_repetitions) repeats them.
void common(benchmark::internal::Benchmark* b) {
    b->Unit(benchmark::kMillisecond)->ComputeStatistics("min", minimum)->ComputeStatistics("max", maximum);
}
void paired(benchmark::internal::Benchmark* b) { common(b); b->UseManualTime(); }
void plain(benchmark::internal::Benchmark* b) { common(b); b->UseRealTime(); }

BENCHMARK(BM_trace_sqrt)->Apply(paired)->Arg(1024)->Iterations(4);
BENCHMARK(BM_trace_sqrt)->Apply(paired)->Arg(2048)->Iterations(2);
// d = 4096: both orders in each repetition where a call takes seconds; one
// pair per repetition for the pure-Eigen build, where mir's call takes
// minutes on a loaded machine (the order then alternates across repetitions).
BENCHMARK(BM_trace_sqrt)->Apply(paired)->Arg(4096)->Iterations(MIR_USE_LAPACK ? 2 : 1);
BENCHMARK(BM_trace_sqrt_passes_mir)->Apply(plain)->Arg(1024)->Arg(2048)->Arg(4096)->Iterations(3);
BENCHMARK(BM_trace_sqrt_passes_bound)->Apply(plain)->Arg(1024)->Arg(2048)->Arg(4096)->Iterations(3);

}  // namespace

int main(int argc, char** argv) {
    return mir_bench::run_benchmarks(argc, argv, [] {
        benchmark::AddCustomContext("eigen_version", std::to_string(EIGEN_WORLD_VERSION) + "." +
                                                         std::to_string(EIGEN_MAJOR_VERSION) + "." +
                                                         std::to_string(EIGEN_MINOR_VERSION));
        std::fprintf(stderr, "mir_bench_trace_sqrt: MIR_USE_LAPACK=%d, MIR_BENCH_HAVE_LAPACK=%d\n", MIR_USE_LAPACK,
                     MIR_BENCH_HAVE_LAPACK);
    });
}
