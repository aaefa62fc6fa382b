// tools/mir/bench_sqrt.hpp — `mir bench-sqrt`: accuracy and cost of every
// way of obtaining Tr (S1 S2)^{1/2} (docs/sqrt-benchmark.md). Its parts: bench_sqrt_detail.hpp.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace mir::tool {

struct bench_sqrt_options {
    std::string out = "sqrt-bench";  ///< output directory (CSV, JSON, SVG)
    bool full = false;               ///< the full grid (d up to 4096 for every method; hours)
    std::vector<int> dims;           ///< override the sizes of the main grid
    std::vector<double> kappas;      ///< override the condition numbers
    std::string from_dump;           ///< a dump file or directory: benchmark one real layer instead
    int layer = -1;                  ///< its hidden-state index (default: the last)
    unsigned seed = 1;
    int blas_threads = 1;  ///< OpenBLAS threads (1: every method single-threaded, comparable timings)
    bool quiet = false;
    std::string replot;  ///< only redraw the SVGs of an existing sqrt_bench.csv into `out`
    const CLI::App* sub = nullptr;  ///< the parsed subcommand, for the options record (provenance)
};

/// Runs the sweep; returns the process exit code.
int run_bench_sqrt(const bench_sqrt_options& o);

}  // namespace mir::tool
