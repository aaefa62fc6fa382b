// tools/mir/cli_options.hpp — options that several subcommands take. Their
// choices and help come from the library's catalogues (sqrt_catalogue,
// outlier_policy, precision), so a new method or policy appears here by itself.
#pragma once

#include <mir/linalg/sqrt_methods.hpp>
#include <mir/precision.hpp>
#include <mir/stats/outliers.hpp>

#include <CLI/CLI.hpp>

#include <string>

namespace mir::tool {

/// --outliers NAME, checked against the policy names; the default first.
void add_outliers_option(CLI::App& c, std::string& policy);

/// --sqrt NAME (checked against the catalogue, help from its summaries), and
/// --sqrt-tol / --sqrt-max-iter for the iterative methods, into `o`.
void add_sqrt_options(CLI::App& c, std::string& method, sqrt_options& o);

/// --precision fp64|fp32 (the accumulation's).
void add_precision_option(CLI::App& c, std::string& p);

/// --threads and --blas-threads: N, or auto (0 here), the default.
struct thread_options {
    int layers = 0;  ///< layers computed in parallel; 0 = auto
    int blas = 0;    ///< BLAS threads per call; 0 = auto (OPENBLAS_NUM_THREADS when set)
};

/// --threads auto|N (layers computed in parallel) and --blas-threads auto|N.
void add_threads_option(CLI::App& c, thread_options& threads);

/// A check for a floating-point option: a finite number in (lo, hi)
/// (open at both ends), with a short message ("must be a finite number
/// with 0 < TOL < 1"). `name` is the value's name in the message.
CLI::Validator finite_between(double lo, double hi, std::string name);

/// A check for a floating-point option: a finite number >= lo.
CLI::Validator finite_at_least(double lo, std::string name);

}  // namespace mir::tool
