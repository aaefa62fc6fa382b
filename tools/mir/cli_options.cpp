#include "cli_options.hpp"

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace mir::tool {

namespace {

// The choices come from the library's tables (mir::outlier_policies, mir::precisions), the default first.
// "a (default), b or c" and the list CLI::IsMember checks.
constexpr std::string_view name_of(const outlier_policy_info& p) noexcept { return p.name; }
constexpr std::string_view name_of(precision p) noexcept { return to_string(p); }

template <class Range>
std::string choices_help(const Range& r, std::vector<std::string>& names) {
    std::string help;
    for (std::size_t i = 0; i < r.size(); ++i) {
        names.emplace_back(name_of(r[i]));
        help += (i == 0 ? "" : i + 1 == r.size() ? " or " : ", ") + names.back() + (i == 0 ? " (default)" : "");
    }
    return help;
}

// The number `text` holds, or NaN when it is not one (the whole text must be consumed).
double parse_double(const std::string& text) {
    if (text.empty()) return NAN;
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    return end == text.c_str() + text.size() ? v : NAN;
}

std::string short_number(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v);
    return b;
}

}  // namespace

CLI::Validator finite_between(double lo, double hi, std::string name) {
    const std::string rule = "a finite number with " + short_number(lo) + " < " + name + " < " + short_number(hi);
    return CLI::Validator(
        [lo, hi, rule](std::string& text) -> std::string {
            const double v = parse_double(text);
            if (std::isfinite(v) && v > lo && v < hi) return {};
            return "'" + text + "' is not " + rule;
        },
        "(" + short_number(lo) + ", " + short_number(hi) + ")");
}

CLI::Validator finite_at_least(double lo, std::string name) {
    const std::string rule = "a finite number with " + name + " >= " + short_number(lo);
    return CLI::Validator(
        [lo, rule](std::string& text) -> std::string {
            const double v = parse_double(text);
            if (std::isfinite(v) && v >= lo) return {};
            return "'" + text + "' is not " + rule;
        },
        ">= " + short_number(lo));
}

void add_outliers_option(CLI::App& c, std::string& policy) {
    std::vector<std::string> names;
    const std::string help = choices_help(outlier_policies, names);
    c.add_option("--outliers", policy, help)->check(CLI::IsMember(names));
}

void add_precision_option(CLI::App& c, std::string& p) {
    std::vector<std::string> names;
    const std::string help = "accumulation: " + choices_help(precisions, names);
    c.add_option("--precision", p, help)->check(CLI::IsMember(names));
}

void add_sqrt_options(CLI::App& c, std::string& method, sqrt_options& o) {
    // One catalogue row a line (CLI11 indents each line of a description to its column); the rows
    // `mir compute` offers (reference-fast is bench-sqrt's only: its old name gets a pointer to official-fast).
    const std::string indent = "  ";
    std::string help = "how Tr (Sv St)^1/2 is obtained:", iterative;
    std::size_t width = 0;
    for (const auto& m : sqrt_catalogue) width = std::max(width, m.name.size());
    for (const auto& m : sqrt_catalogue) {
        if (!m.compute) continue;
        help += "\n" + indent + std::string(m.name) + std::string(width + 2 - m.name.size(), ' ') +
                std::string(m.summary);
        if (m.iterative) iterative += (iterative.empty() ? "" : "/") + std::string(m.name);
    }
    c.add_option("--sqrt", method, help)
        ->check(CLI::Validator(
            [](std::string& s) -> std::string {
                try {
                    (void)parse_compute_sqrt_method(s);
                    return {};
                } catch (const argument_error& e) {
                    return e.what();
                }
            },
            "METHOD"));
    c.add_option("--sqrt-tol", o.tol,
                 iterative +
                     ": stop when |tr(I - Z Y)| <= TOL, a bound on the relative error of the trace square "
                     "root (default 1e-10; 0 < TOL < 1)")
        ->check(finite_between(0.0, 1.0, "TOL"))
        ->default_str("1e-10");  // 0 in sqrt_options: the method's default (default_sqrt_tol)
    c.add_option("--sqrt-max-iter", o.max_iter, iterative + ": iteration limit (default 100)")
        ->check(CLI::Range(1, 100000));
}

namespace {

/// "auto" (stored as 0) or an integer in [1, 1024].
CLI::Validator auto_or_count() {
    return CLI::Validator(
        [](std::string& s) -> std::string {
            if (s == "auto") {
                s = "0";
                return {};
            }
            std::size_t used = 0;
            long v = 0;
            try {
                v = std::stol(s, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (used != s.size() || s.empty() || v < 1 || v > 1024) return "'" + s + "' is not auto or 1..1024";
            return {};
        },
        "auto|1..1024");
}

}  // namespace

void add_threads_option(CLI::App& c, thread_options& threads) {
    c.add_option("--threads", threads.layers,
                 "layers computed in parallel: auto (default: one per core, as many as the layers and memory "
                 "allow) or N")
        ->transform(auto_or_count())
        ->type_name("N")
        ->default_str("auto");
    c.add_option("--blas-threads", threads.blas,
                 "BLAS threads in each layer: auto (default: the cores left per layer; OPENBLAS_NUM_THREADS "
                 "when set) or N")
        ->transform(auto_or_count())
        ->type_name("N")
        ->default_str("auto");
}

}  // namespace mir::tool
