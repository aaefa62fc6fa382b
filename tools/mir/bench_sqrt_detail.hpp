// tools/mir/bench_sqrt_detail.hpp — the parts of `mir bench-sqrt`, one file
// each: test matrices and references (bench_sqrt_matrices.cpp), the variants
// (bench_sqrt_variants.cpp), the runner (bench_sqrt_run.cpp) and the CSV,
// JSON and SVG output (bench_sqrt_report.cpp).
#pragma once

#include <mir/mir.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "output.hpp"

namespace mir::tool::sqrt_bench {

/// One pair of covariances and the trusted value of Tr (S1 S2)^{1/2}.
struct bench_case {
    std::string pair;  // commuting, general, rank-deficient, dump:layerK
    index_t d = 0;
    double kappa = 0;  // per covariance; 0 for rank-deficient and dump
    index_t rows1 = 0, rows2 = 0;
    Eigen::MatrixXd s1, s2;
    long double reference = 0;
    std::string reference_kind;  // closed-form, long-double or exact
};

/// A pair with eigenvalues log-spaced over kappa: "commuting" (shared
/// eigenvectors, closed-form reference) or "general" (independent ones).
bench_case make_kappa_case(const std::string& pair, index_t d, double kappa, unsigned seed);

/// Covariances of fewer rows than d (d/2 and 3d/4), exactly rank-deficient.
bench_case make_rank_deficient_case(index_t d, unsigned seed);

/// The two α-scaled covariances of one layer of a dump (layer < 0: the last).
bench_case make_dump_case(const std::string& path, int layer);

/// One way of computing the trace square root that the benchmark measures.
struct variant {
    std::string label;  // method[/form][extra]/precision, or a name of its own
    sqrt_options opt;
    bool official = false;  // the official loop, run literally in fp32 (official_loop_literal)
};

/// Every variant, in the order of the CSV; `full` adds the option studies.
std::vector<variant> variants(bool full);

/// One line of the result.
struct row {
    std::string pair, variant, method, form, precision, status, reference_kind;
    index_t d = 0, rows1 = 0, rows2 = 0;
    double kappa = 0, seconds = 0, value = 0, reference = 0, rel_error = 0, residual = 0;
    int iterations = 0;
};

/// Runs one variant on one case (timed as the fastest of short repeats).
row run_one(const bench_case& c, const variant& v);

extern const char* const csv_header;
std::string csv_line(const row& r);
nlohmann::ordered_json to_json(const row& r);

/// Rows back from a sqrt_bench.csv (the format csv_line writes).
std::vector<row> read_csv(const std::string& path);

/// The plot files, in dir: error_vs_time.svg always; the others for synthetic grids.
inline constexpr const char* plot_files[] = {"error_vs_time.svg", "error_vs_kappa.svg", "iterations_vs_kappa.svg",
                                             "time_vs_d.svg"};

/// error_vs_time.svg, and for synthetic grids error_vs_kappa, iterations_vs_kappa and time_vs_d,
/// put into `out` (which declared them).
void write_plots(output_set& out, const std::vector<row>& rows, const std::filesystem::path& dir,
                 const std::string& machine);

}  // namespace mir::tool::sqrt_bench
