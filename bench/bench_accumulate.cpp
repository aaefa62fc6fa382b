// bench_accumulate.cpp — streaming-moments throughput (tokens/s) at
// d = 4096 against the bare BLAS rank-k update on the same number of rows.
//
//   BM_moments_<acc>acc_<rows>/block_rows
//       mir::moments<acc>::add on rows of <rows> (f16, bf16, f32, f64):
//       conversion to <acc>, block centring, syrk and the Chan merge
//       included; the accumulator is built once, outside the timing, and
//       keeps absorbing rows. Paired with its baseline: every iteration
//       also runs cblas_ssyrk (fp32 accumulation) or cblas_dsyrk (fp64) on
//       the same number of fp32/fp64 rows, k = block_rows rows per call,
//       back to back, alternating which goes first, so that load from other
//       processes (the machine is shared) hits both alike. The reported time
//       is mir's (manual time); counters:
//         tokens_per_s       mir's rows per second
//         blas_tokens_per_s  the baseline's rows per second
//         ratio_vs_blas      Σ t_blas / Σ t_mir = mir throughput / baseline's
//   BM_ssyrk_f32/k, BM_dsyrk_f64/k
//       the baselines alone: C += A Aᵀ (A d × k, the rows themselves, no
//       conversion, no centring) on successive blocks of k rows.
//       The fp64 modes are paired at the default block size only.
//   BM_block_sweep_<acc>acc_<rows>
//       which block size is fastest: one accumulator per block size
//       (128, 256, 512, 1024), fed the same rows back to back in rotating
//       order; counters rel_<k> = t(default) / t(k) (> 1: k is faster than
//       the default) and tokens_per_s_<k>.
//   BM_load_rows_f32acc_<rows>/256   the conversion alone (diagnostic).
//
// Every iteration feeds kRowsPerIter rows; GFLOPs counts the nominal syrk
// flops, rows · d · (d + 1).
#include <mir/config.hpp>
#include <mir/element.hpp>
#include <mir/stats/moments.hpp>

#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "bench_common.hpp"

namespace {

using mir_bench::clock_type;
using mir_bench::seconds_since;

constexpr mir::index_t kDim = 4096;
constexpr mir::index_t kRowsPerIter = 4096;

// Hidden-state-like rows: a common offset per dimension plus N(0, 1) noise,
// a few large-magnitude dimensions (as real LLM activations have).
const std::vector<double>& source_rows() {
    static const std::vector<double> rows = [] {
        std::mt19937_64 rng(42);
        std::normal_distribution<double> normal(0.0, 1.0);
        std::vector<double> offset(kDim);
        for (mir::index_t j = 0; j < kDim; ++j) offset[j] = (j % 512 == 7) ? 20.0 : 0.5 * normal(rng);
        std::vector<double> r(static_cast<std::size_t>(kRowsPerIter * kDim));
        for (mir::index_t i = 0; i < kRowsPerIter; ++i) {
            for (mir::index_t j = 0; j < kDim; ++j) r[i * kDim + j] = offset[j] + normal(rng);
        }
        return r;
    }();
    return rows;
}

template <class T>
const std::vector<T>& rows_as() {
    static const std::vector<T> rows = [] {
        const auto& src = source_rows();
        if constexpr (std::is_same_v<T, double>) {
            return src;
        } else {
            std::vector<T> r(src.size());
            for (std::size_t i = 0; i < src.size(); ++i) r[i] = static_cast<T>(static_cast<float>(src[i]));
            return r;
        }
    }();
    return rows;
}

void set_counters(benchmark::State& state, mir::index_t block) {
    const double rows = static_cast<double>(kRowsPerIter);
    const double d = static_cast<double>(kDim);
    state.counters["tokens_per_s"] = benchmark::Counter(rows, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["GFLOPs"] =
        benchmark::Counter(rows * d * (d + 1.0) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["block_rows"] = static_cast<double>(block);
}

#if MIR_BENCH_HAVE_LAPACK
// C += A Aᵀ over all kRowsPerIter rows, k rows per call; k row-major rows of
// length d are a column-major d × k matrix with leading dimension d.
template <class Acc>
void blas_syrk_all(const std::vector<Acc>& rows, mir::index_t k, Acc* c) {
    const int d = static_cast<int>(kDim);
    for (mir::index_t first = 0; first < kRowsPerIter; first += k) {
        const int kk = static_cast<int>(std::min(k, kRowsPerIter - first));
        if constexpr (std::is_same_v<Acc, float>) {
            cblas_ssyrk(CblasColMajor, CblasLower, CblasNoTrans, d, kk, 1.0f, rows.data() + first * kDim, d, 1.0f, c,
                        d);
        } else {
            cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, d, kk, 1.0, rows.data() + first * kDim, d, 1.0, c, d);
        }
    }
}

template <class Acc>
void BM_blas_syrk(benchmark::State& state) {
    const auto k = static_cast<mir::index_t>(state.range(0));
    const auto& rows = rows_as<Acc>();
    Eigen::Matrix<Acc, Eigen::Dynamic, Eigen::Dynamic> c = decltype(c)::Zero(kDim, kDim);
    for (auto _ : state) {
        blas_syrk_all(rows, k, c.data());
        benchmark::ClobberMemory();
    }
    benchmark::DoNotOptimize(c.data());
    set_counters(state, k);
}
#endif

template <class Acc, class T>
void BM_moments(benchmark::State& state) {
    const auto block = static_cast<mir::index_t>(state.range(0));
    const auto& rows = rows_as<T>();
    const mir::row_view<T> view(rows.data(), kRowsPerIter, kDim);
    mir::moments<Acc> m(kDim, block);
    double t_mir = 0.0;
    double t_blas = 0.0;
#if MIR_BENCH_HAVE_LAPACK
    const auto& blas_rows = rows_as<Acc>();
    Eigen::Matrix<Acc, Eigen::Dynamic, Eigen::Dynamic> c = decltype(c)::Zero(kDim, kDim);
#endif
    // Which goes first alternates per iteration and carries over from one
    // repetition to the next (an odd iteration count would favour one order).
    static bool mir_first = true;
    for (auto _ : state) {
        const double this_mir = mir_bench::time_paired(
            mir_first,
            [&] {
                m.add(view);
                benchmark::ClobberMemory();
            },
            [&] {
#if MIR_BENCH_HAVE_LAPACK
                blas_syrk_all(blas_rows, block, c.data());
                benchmark::ClobberMemory();
#endif
            },
            t_blas);
        t_mir += this_mir;
        state.SetIterationTime(this_mir);
    }
    benchmark::DoNotOptimize(m.mean().data());
    set_counters(state, block);
#if MIR_BENCH_HAVE_LAPACK
    benchmark::DoNotOptimize(c.data());
    const double rows_total = static_cast<double>(kRowsPerIter) * static_cast<double>(state.iterations());
    state.counters["blas_tokens_per_s"] = rows_total / t_blas;
    state.counters["ratio_vs_blas"] = t_blas / t_mir;
#else
    static_cast<void>(t_blas);
#endif
}

// Block-size sweep, paired: one accumulator per block size, all fed the
// same rows in every iteration, back to back in rotating order. Counters
// rel_<k> = t(default block size) / t(k): throughput at block size k
// relative to the default (> 1: k is faster). Reported time: the default's.
template <class Acc, class T>
void BM_block_sweep(benchmark::State& state) {
    constexpr std::array<mir::index_t, 4> ks{128, 256, 512, 1024};
    constexpr mir::index_t kdef = mir::moments<Acc>::default_block_rows;
    const auto& rows = rows_as<T>();
    const mir::row_view<T> view(rows.data(), kRowsPerIter, kDim);
    std::vector<mir::moments<Acc>> ms;
    for (const auto k : ks) ms.emplace_back(kDim, k);
    std::array<double, ks.size()> t{};
    static std::size_t start = 0;  // rotation carries over across repetitions
    for (auto _ : state) {
        double t_default = 0.0;
        for (std::size_t j = 0; j < ks.size(); ++j) {
            const std::size_t i = (start + j) % ks.size();
            const auto t0 = clock_type::now();
            ms[i].add(view);
            benchmark::ClobberMemory();
            const double dt = seconds_since(t0);
            t[i] += dt;
            if (ks[i] == kdef) t_default = dt;
        }
        start = (start + 1) % ks.size();
        state.SetIterationTime(t_default);
    }
    double t_def_total = 0.0;
    for (std::size_t i = 0; i < ks.size(); ++i) {
        if (ks[i] == kdef) t_def_total = t[i];
        benchmark::DoNotOptimize(ms[i].mean().data());
    }
    const double rows_total = static_cast<double>(kRowsPerIter) * static_cast<double>(state.iterations());
    for (std::size_t i = 0; i < ks.size(); ++i) {
        state.counters["rel_" + std::to_string(ks[i])] = t_def_total / t[i];
        state.counters["tokens_per_s_" + std::to_string(ks[i])] = rows_total / t[i];
    }
    state.counters["default_block_rows"] = static_cast<double>(kdef);
}

template <class Acc, class T>
void BM_load_rows(benchmark::State& state) {
    const auto block = static_cast<mir::index_t>(state.range(0));
    const auto& rows = rows_as<T>();
    const mir::row_view<T> view(rows.data(), kRowsPerIter, kDim);
    std::vector<Acc> buffer(static_cast<std::size_t>(block * kDim));
    for (auto _ : state) {
        for (mir::index_t first = 0; first < kRowsPerIter; first += block) {
            mir::detail::load_rows<Acc>(view, first, block, buffer.data());
            benchmark::DoNotOptimize(buffer.data());
            benchmark::ClobberMemory();
        }
    }
    state.counters["tokens_per_s"] =
        benchmark::Counter(static_cast<double>(kRowsPerIter), benchmark::Counter::kIsIterationInvariantRate);
}

// "min"/"max" next to Google Benchmark's mean/median/stddev/cv aggregates:
// the least and most disturbed repetition on a shared machine.
double minimum(const std::vector<double>& v) { return v.empty() ? 0.0 : *std::min_element(v.begin(), v.end()); }
double maximum(const std::vector<double>& v) { return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()); }

void common(benchmark::internal::Benchmark* b) {
    b->Unit(benchmark::kMillisecond)->ComputeStatistics("min", minimum)->ComputeStatistics("max", maximum);
}

// Paired mir-vs-BLAS: a fixed number of iterations (each one pass over
// kRowsPerIter rows by both) per repetition.
void block_sizes_paired(benchmark::internal::Benchmark* b) {
    for (const long k : {128L, 256L, 512L, 1024L}) b->Arg(k);
    common(b);
    b->ArgName("block_rows")->UseManualTime()->Iterations(3);
}

void default_block_paired(benchmark::internal::Benchmark* b) {
    b->Arg(mir::moments<double>::default_block_rows);
    common(b);
    b->ArgName("block_rows")->UseManualTime()->Iterations(3);
}

void sweep(benchmark::internal::Benchmark* b) {
    common(b);
    b->UseManualTime()->Iterations(3);
}

#if MIR_BENCH_HAVE_LAPACK
void block_sizes(benchmark::internal::Benchmark* b) {
    for (const long k : {128L, 256L, 512L, 1024L}) b->Arg(k);
    common(b);
    b->ArgName("block_rows")->UseRealTime()->Iterations(2);
}
#endif

void one_block(benchmark::internal::Benchmark* b) {
    b->Arg(256)->ArgName("block_rows");
    common(b);
    b->UseRealTime();
}

#if MIR_BENCH_HAVE_LAPACK
BENCHMARK(BM_blas_syrk<float>)->Name("BM_ssyrk_f32")->Apply(block_sizes);
BENCHMARK(BM_blas_syrk<double>)->Name("BM_dsyrk_f64")->Apply(block_sizes);
#endif
BENCHMARK(BM_moments<float, mir::half>)->Name("BM_moments_f32acc_f16")->Apply(block_sizes_paired);
BENCHMARK(BM_moments<float, mir::bfloat16>)->Name("BM_moments_f32acc_bf16")->Apply(block_sizes_paired);
BENCHMARK(BM_moments<float, float>)->Name("BM_moments_f32acc_f32")->Apply(block_sizes_paired);
// fp64 accumulation: against dsyrk at the default block size only (the
// target concerns fp32); the block-size question is the sweep's.
BENCHMARK(BM_moments<double, mir::half>)->Name("BM_moments_f64acc_f16")->Apply(default_block_paired);
BENCHMARK(BM_moments<double, mir::bfloat16>)->Name("BM_moments_f64acc_bf16")->Apply(default_block_paired);
BENCHMARK(BM_moments<double, float>)->Name("BM_moments_f64acc_f32")->Apply(default_block_paired);
BENCHMARK(BM_moments<double, double>)->Name("BM_moments_f64acc_f64")->Apply(default_block_paired);
BENCHMARK(BM_block_sweep<float, mir::half>)->Name("BM_block_sweep_f32acc_f16")->Apply(sweep);
BENCHMARK(BM_block_sweep<float, mir::bfloat16>)->Name("BM_block_sweep_f32acc_bf16")->Apply(sweep);
BENCHMARK(BM_block_sweep<float, float>)->Name("BM_block_sweep_f32acc_f32")->Apply(sweep);
BENCHMARK(BM_block_sweep<double, double>)->Name("BM_block_sweep_f64acc_f64")->Apply(sweep);
BENCHMARK(BM_load_rows<float, mir::half>)->Name("BM_load_rows_f32acc_f16")->Apply(one_block);
BENCHMARK(BM_load_rows<float, mir::bfloat16>)->Name("BM_load_rows_f32acc_bf16")->Apply(one_block);
BENCHMARK(BM_load_rows<float, float>)->Name("BM_load_rows_f32acc_f32")->Apply(one_block);

}  // namespace

int main(int argc, char** argv) {
    return mir_bench::run_benchmarks(argc, argv, [] {
        benchmark::AddCustomContext("dim", std::to_string(kDim));
        benchmark::AddCustomContext("rows_per_iteration", std::to_string(kRowsPerIter));
        benchmark::AddCustomContext("default_block_rows", std::to_string(mir::moments<float>::default_block_rows));
        std::fprintf(stderr, "mir_bench_accumulate: MIR_USE_LAPACK=%d, d=%ld, rows/iteration=%ld\n", MIR_USE_LAPACK,
                     static_cast<long>(kDim), static_cast<long>(kRowsPerIter));
    });
}
