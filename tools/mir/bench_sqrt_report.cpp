// `mir bench-sqrt`: CSV, JSON and SVG output.
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "bench_sqrt_detail.hpp"
#include "output.hpp"
#include "svg_plot.hpp"

namespace mir::tool::sqrt_bench {

const char* const csv_header =
    "pair,d,kappa,rows1,rows2,variant,method,form,precision,iterations,seconds,value,reference,reference_kind,"
    "rel_error,residual,status\n";


std::string csv_line(const row& r) {
    char b[1024];
    std::snprintf(b, sizeof b, "%s,%td,%.6g,%td,%td,%s,%s,%s,%s,%d,%.6g,%.17g,%.17g,%s,%.6g,%.6g,%s\n", r.pair.c_str(),
                  r.d, r.kappa, r.rows1, r.rows2, r.variant.c_str(), r.method.c_str(), r.form.c_str(),
                  r.precision.c_str(), r.iterations, r.seconds, r.value, r.reference, r.reference_kind.c_str(),
                  r.rel_error, r.residual, r.status.c_str());
    return b;
}

nlohmann::ordered_json to_json(const row& r) {
    nlohmann::ordered_json j;
    j["pair"] = r.pair;
    j["d"] = r.d;
    j["kappa"] = r.kappa;
    j["rows1"] = r.rows1;
    j["rows2"] = r.rows2;
    j["variant"] = r.variant;
    j["method"] = r.method;
    j["form"] = r.form;
    j["precision"] = r.precision;
    j["iterations"] = r.iterations;
    j["seconds"] = r.seconds;
    j["value"] = r.value;
    j["reference"] = r.reference;
    j["reference_kind"] = r.reference_kind;
    j["rel_error"] = r.rel_error;
    j["residual"] = r.residual;
    j["status"] = r.status;
    return j;
}

namespace {

std::string csv_header_fields() {
    std::string h = csv_header;
    h.pop_back();  // the newline
    return h;
}

constexpr double rank_def_x = 1e15;  // where rank-deficient cases sit on a κ axis
constexpr double error_floor = 1e-17;

// A CSV method column that names an iterative catalogue method.
bool is_iterative_name(const std::string& method) {
    for (const auto& m : sqrt_catalogue) {
        if (m.name == method) return m.iterative;
    }
    return false;
}

}  // namespace

void write_plots(output_set& out, const std::vector<row>& rows, const std::filesystem::path& dir,
                 const std::string& machine) {
    std::vector<std::string> order;
    for (const auto& r : rows) {
        if (std::find(order.begin(), order.end(), r.variant) == order.end()) order.push_back(r.variant);
    }
    const auto series_where = [&](auto pred, auto fx, auto fy, bool lines) {
        std::vector<plot_series> series;
        for (const auto& name : order) {
            plot_series s;
            s.name = name;
            s.lines = lines;
            for (const auto& r : rows) {
                if (r.variant == name && pred(r)) {
                    s.x.push_back(fx(r));
                    s.y.push_back(fy(r));
                }
            }
            if (!s.x.empty()) series.push_back(std::move(s));
        }
        return series;
    };
    // Error vs time: the largest d of the general grid where Newton–Schulz ran
    // at three κ or more; error vs κ: the largest such d ≤ 256 (long-double reference).
    index_t d_time = 0, d_kappa = 0;
    std::map<index_t, std::set<double>> ns_kappas;
    for (const auto& r : rows) {
        if (r.pair == "general" && r.method == "newton-schulz") ns_kappas[r.d].insert(r.kappa);
    }
    for (const auto& [d, ks] : ns_kappas) {
        if (ks.size() < 3) continue;
        if (d <= 256) d_kappa = d;
        d_time = d;
    }
    const bool dump = !rows.empty() && rows.front().pair.rfind("dump", 0) == 0;
    const auto chart = [](std::string title, std::string subtitle, std::string x_label, std::string y_label) {
        plot_spec p;
        p.title = std::move(title);
        p.subtitle = std::move(subtitle);
        p.x_label = std::move(x_label);
        p.y_label = std::move(y_label);
        return p;
    };
    const auto draw = [&](const char* file, const plot_spec& p, auto pred, auto fx, auto fy, bool lines) {
        out.put((dir / file).string(), scatter_svg(p, series_where(pred, fx, fy, lines)), "the plot");
    };
    // Relative errors on a log axis with exact zeros at the floor; κ axes with the rank-deficient cases at the right.
    const auto error_y = [](plot_spec p) {
        p.y_label = "relative error (log; exact zero drawn at 1e-17)";
        p.y_floor = error_floor;
        return p;
    };
    const auto kappa_axis = [](plot_spec p) {
        p.x_label = "kappa(S1) = kappa(S2) (log)";
        p.extra_x_at = rank_def_x;
        p.extra_x_label = "rank-def.";
        return p;
    };
    const auto kappa_x = [](const row& r) { return r.kappa > 0 ? r.kappa : rank_def_x; };
    const auto err_y = [](const row& r) { return std::max(r.rel_error, error_floor); };
    const auto seconds = [](const row& r) { return r.seconds; };
    const auto grid_at = [](index_t d) {
        return [d](const row& r) { return (r.pair == "general" || r.pair == "rank-deficient") && r.d == d; };
    };
    draw("error_vs_time.svg",
         error_y(chart("Relative error of Tr (S1 S2)^1/2 against time",
                       dump ? rows.front().pair + ", d = " + std::to_string(rows.front().d) + "; " + machine
                            : "general pairs, d = " + std::to_string(d_time) + ", every kappa and rank-deficient; " +
                                  machine,
                       "seconds (log)", "")),
         [&](const row& r) { return dump || grid_at(d_time)(r); }, seconds, err_y, false);
    if (dump) return;
    const std::string at_d_kappa = "general pairs, d = " + std::to_string(d_kappa);
    draw("error_vs_kappa.svg",
         kappa_axis(error_y(chart("Relative error against the condition number of each covariance",
                                  at_d_kappa + " (long-double reference); right: rank-deficient", "", ""))),
         grid_at(d_kappa), kappa_x, err_y, true);
    plot_spec iterations = kappa_axis(chart("Iterations against the condition number",
                                            at_d_kappa + "; right: rank-deficient", "", "iterations"));
    iterations.log_y = false;
    draw("iterations_vs_kappa.svg", iterations,
         [&](const row& r) { return grid_at(d_kappa)(r) && is_iterative_name(r.method); }, kappa_x,
         [](const row& r) { return static_cast<double>(r.iterations); }, true);
    draw("time_vs_d.svg",
         chart("Time against d", "general pairs, kappa = 1e4 per covariance; " + machine, "d (log)", "seconds (log)"),
         [](const row& r) { return r.pair == "general" && r.kappa == 1e4; },
         [](const row& r) { return static_cast<double>(r.d); }, seconds, true);
}

/// Rows back from a sqrt_bench.csv (the format csv_line writes). Errors name the file, the line and the field.
std::vector<row> read_csv(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw file_error(path + ": cannot read");
    std::string line;
    std::getline(in, line);
    if (line + "\n" != csv_header) throw file_error(path + ": line 1: not a sqrt_bench.csv header");
    static constexpr const char* names[17] = {"pair",     "d",      "kappa",     "rows1",          "rows2",
                                              "variant",  "method", "form",      "precision",      "iterations",
                                              "seconds",  "value",  "reference", "reference_kind", "rel_error",
                                              "residual", "status"};
    std::vector<row> rows;
    for (long n = 2; std::getline(in, line); ++n) {
        const std::string where = path + ": line " + std::to_string(n) + ": ";
        std::vector<std::string> f;
        std::size_t a = 0;
        for (std::size_t b; (b = line.find(',', a)) != std::string::npos; a = b + 1) f.push_back(line.substr(a, b - a));
        f.push_back(line.substr(a));
        if (f.size() != 17) {
            throw file_error(where + std::to_string(f.size()) + " fields, expected 17 (" + csv_header_fields() + ")");
        }
        // Whole-field numbers only ("12abc" and "" are errors, as are integers out of range).
        const auto integer = [&](int i) {
            const std::string& t = f[static_cast<std::size_t>(i)];
            char* end = nullptr;
            errno = 0;
            const long v = t.empty() ? 0 : std::strtol(t.c_str(), &end, 10);
            if (t.empty() || end != t.c_str() + t.size() || errno == ERANGE || v < INT_MIN || v > INT_MAX) {
                throw file_error(where + "field '" + names[i] + "' is '" + t + "', not an integer");
            }
            return v;
        };
        const auto number = [&](int i) {
            const std::string& t = f[static_cast<std::size_t>(i)];
            char* end = nullptr;
            const double v = t.empty() ? 0 : std::strtod(t.c_str(), &end);
            if (t.empty() || end != t.c_str() + t.size()) {
                throw file_error(where + "field '" + names[i] + "' is '" + t + "', not a number");
            }
            return v;
        };
        rows.push_back({.pair = f[0],
                        .variant = f[5],
                        .method = f[6],
                        .form = f[7],
                        .precision = f[8],
                        .status = f[16],
                        .reference_kind = f[13],
                        .d = integer(1),
                        .rows1 = integer(3),
                        .rows2 = integer(4),
                        .kappa = number(2),
                        .seconds = number(10),
                        .value = number(11),
                        .reference = number(12),
                        .rel_error = number(14),
                        .residual = number(15),
                        .iterations = static_cast<int>(integer(9))});
    }
    return rows;
}

}  // namespace mir::tool::sqrt_bench
