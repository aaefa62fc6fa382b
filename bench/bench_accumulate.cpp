// bench_accumulate.cpp — streaming-moments throughput (tokens/s) at
// d = 4096 against the bare BLAS rank-k update on the same number of rows.
//
//   BM_moments_<acc>_<rows>/block_rows   mir::moments<acc>::add on rows of
//       <rows> (f16, bf16, f32, f64), conversion to <acc>, block centring,
//       syrk and the Chan merge included; the accumulator is built once,
//       outside the timing, and keeps absorbing rows.
//   BM_ssyrk_f32/k, BM_dsyrk_f64/k       the baselines: cblas_[sd]syrk
//       C += A Aᵀ (A d × k, the rows themselves, no conversion, no centring)
//       called on successive blocks of k rows — the same row count per call
//       as the block size of the moments it is compared with.
//   BM_load_rows_<acc>_<rows>/256        the conversion alone (diagnostic).
//
// Every iteration feeds the same kRowsPerIter rows; counters:
//   tokens_per_s  rows consumed per second
//   GFLOPs        nominal syrk flops (rows · d · (d + 1)) per second
#include <mir/config.hpp>
#include <mir/element.hpp>
#include <mir/stats/moments.hpp>

#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#ifndef MIR_BENCH_HAVE_LAPACK
#define MIR_BENCH_HAVE_LAPACK 0
#endif
#if MIR_BENCH_HAVE_LAPACK
#include <cblas.h>
#endif

namespace {

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

void set_counters(benchmark::State& state) {
    const double rows = static_cast<double>(kRowsPerIter);
    const double d = static_cast<double>(kDim);
    state.counters["tokens_per_s"] = benchmark::Counter(rows, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["GFLOPs"] =
        benchmark::Counter(rows * d * (d + 1.0) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

template <class Acc, class T>
void BM_moments(benchmark::State& state) {
    const auto block = static_cast<mir::index_t>(state.range(0));
    const auto& rows = rows_as<T>();
    const mir::row_view<T> view(rows.data(), kRowsPerIter, kDim);
    mir::moments<Acc> m(kDim, block);
    for (auto _ : state) {
        m.add(view);
        benchmark::ClobberMemory();
    }
    benchmark::DoNotOptimize(m.mean().data());
    set_counters(state);
    state.counters["block_rows"] = static_cast<double>(block);
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

#if MIR_BENCH_HAVE_LAPACK
void BM_ssyrk_f32(benchmark::State& state) {
    const int k = static_cast<int>(state.range(0));
    const int d = static_cast<int>(kDim);
    const auto& rows = rows_as<float>();
    Eigen::MatrixXf c = Eigen::MatrixXf::Zero(kDim, kDim);
    for (auto _ : state) {
        for (mir::index_t first = 0; first < kRowsPerIter; first += k) {
            // k row-major rows of length d = a column-major d × k matrix.
            cblas_ssyrk(CblasColMajor, CblasLower, CblasNoTrans, d, k, 1.0f, rows.data() + first * kDim, d, 1.0f,
                        c.data(), d);
        }
        benchmark::ClobberMemory();
    }
    benchmark::DoNotOptimize(c.data());
    set_counters(state);
    state.counters["block_rows"] = static_cast<double>(k);
}

void BM_dsyrk_f64(benchmark::State& state) {
    const int k = static_cast<int>(state.range(0));
    const int d = static_cast<int>(kDim);
    const auto& rows = rows_as<double>();
    Eigen::MatrixXd c = Eigen::MatrixXd::Zero(kDim, kDim);
    for (auto _ : state) {
        for (mir::index_t first = 0; first < kRowsPerIter; first += k) {
            cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, d, k, 1.0, rows.data() + first * kDim, d, 1.0,
                        c.data(), d);
        }
        benchmark::ClobberMemory();
    }
    benchmark::DoNotOptimize(c.data());
    set_counters(state);
    state.counters["block_rows"] = static_cast<double>(k);
}
#endif

// "min" next to Google Benchmark's mean/median/stddev/cv aggregates: the
// least disturbed repetition on a shared machine (ratios.py uses times only).
double minimum(const std::vector<double>& v) { return v.empty() ? 0.0 : *std::min_element(v.begin(), v.end()); }

void block_sizes(benchmark::internal::Benchmark* b) {
    for (const long k : {128L, 256L, 512L, 1024L}) b->Arg(k);
    b->ArgName("block_rows")->Unit(benchmark::kMillisecond)->MinTime(1.0)->UseRealTime();
    b->ComputeStatistics("min", minimum);
}

void one_block(benchmark::internal::Benchmark* b) {
    b->Arg(256)->ArgName("block_rows")->Unit(benchmark::kMillisecond)->UseRealTime();
    b->ComputeStatistics("min", minimum);
}

#if MIR_BENCH_HAVE_LAPACK
BENCHMARK(BM_ssyrk_f32)->Apply(block_sizes);
#endif
BENCHMARK(BM_moments<float, mir::half>)->Name("BM_moments_f32acc_f16")->Apply(block_sizes);
BENCHMARK(BM_moments<float, mir::bfloat16>)->Name("BM_moments_f32acc_bf16")->Apply(block_sizes);
BENCHMARK(BM_moments<float, float>)->Name("BM_moments_f32acc_f32")->Apply(block_sizes);
#if MIR_BENCH_HAVE_LAPACK
BENCHMARK(BM_dsyrk_f64)->Apply(block_sizes);
#endif
BENCHMARK(BM_moments<double, mir::half>)->Name("BM_moments_f64acc_f16")->Apply(block_sizes);
BENCHMARK(BM_moments<double, mir::bfloat16>)->Name("BM_moments_f64acc_bf16")->Apply(block_sizes);
BENCHMARK(BM_moments<double, float>)->Name("BM_moments_f64acc_f32")->Apply(block_sizes);
BENCHMARK(BM_moments<double, double>)->Name("BM_moments_f64acc_f64")->Apply(block_sizes);
BENCHMARK(BM_load_rows<float, mir::half>)->Name("BM_load_rows_f32acc_f16")->Apply(one_block);
BENCHMARK(BM_load_rows<float, mir::bfloat16>)->Name("BM_load_rows_f32acc_bf16")->Apply(one_block);
BENCHMARK(BM_load_rows<float, float>)->Name("BM_load_rows_f32acc_f32")->Apply(one_block);

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("mir_use_lapack", std::to_string(MIR_USE_LAPACK));
    benchmark::AddCustomContext("mir_bench_have_lapack", std::to_string(MIR_BENCH_HAVE_LAPACK));
    benchmark::AddCustomContext("dim", std::to_string(kDim));
    benchmark::AddCustomContext("rows_per_iteration", std::to_string(kRowsPerIter));
    benchmark::AddCustomContext("eigen_simd", Eigen::SimdInstructionSetsInUse());
    std::fprintf(stderr, "mir_bench_accumulate: MIR_USE_LAPACK=%d, d=%ld, rows/iteration=%ld\n", MIR_USE_LAPACK,
                 static_cast<long>(kDim), static_cast<long>(kRowsPerIter));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
