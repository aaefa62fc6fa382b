// `mir bench-sqrt`: every square-root method against a trusted reference,
// over sizes, condition numbers, rank deficiency and precisions.
#include "bench_sqrt.hpp"

#include <mir/source/dump.hpp>
#include <mir/mir.hpp>
#include <nlohmann/json.hpp>

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "svg_plot.hpp"

namespace mir::tool {

namespace {

using clock_type = std::chrono::steady_clock;
using ld_matrix = Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic>;

// ---- Test matrices ---------------------------------------------------------------

Eigen::MatrixXd gaussian(index_t r, index_t c, std::mt19937_64& rng) {
    std::normal_distribution<double> n(0.0, 1.0);
    Eigen::MatrixXd g(r, c);
    for (index_t i = 0; i < g.size(); ++i) g.data()[i] = n(rng);
    return g;
}

/// A Haar-random orthogonal matrix: Q of the QR of a Gaussian matrix.
Eigen::MatrixXd random_orthogonal(index_t d, std::mt19937_64& rng) {
    Eigen::MatrixXd g = gaussian(d, d, rng);
#if MIR_USE_LAPACK
    std::vector<double> tau(static_cast<std::size_t>(d));
    const auto n = static_cast<lapack_int>(d);
    LAPACKE_dgeqrf(LAPACK_COL_MAJOR, n, n, g.data(), n, tau.data());
    LAPACKE_dorgqr(LAPACK_COL_MAJOR, n, n, n, g.data(), n, tau.data());
    return g;
#else
    Eigen::HouseholderQR<Eigen::MatrixXd> qr(g);
    return qr.householderQ() * Eigen::MatrixXd::Identity(d, d);
#endif
}

/// Eigenvalues log-spaced from 1 down to 1/kappa.
Eigen::VectorXd log_spectrum(index_t d, double kappa) {
    Eigen::VectorXd v(d);
    for (index_t i = 0; i < d; ++i) v[i] = std::pow(kappa, -static_cast<double>(i) / static_cast<double>(std::max<index_t>(1, d - 1)));
    return v;
}

Eigen::MatrixXd with_spectrum(const Eigen::MatrixXd& q, const Eigen::VectorXd& lambda) {
    const Eigen::MatrixXd w = q * lambda.asDiagonal();
    Eigen::MatrixXd s;
    backend::active::gemm<double>(w, q, s, 1.0, 0.0, false, true);
    return (0.5 * (s + s.transpose())).eval();
}

// ---- References ------------------------------------------------------------------

/// Σ √λ of a symmetric long-double matrix, eigenvalues above the cut-off.
long double sum_sqrt_ld(const ld_matrix& m) {
    Eigen::SelfAdjointEigenSolver<ld_matrix> es(m, Eigen::EigenvaluesOnly);
    const auto& l = es.eigenvalues();
    const long double cut = std::max(l.maxCoeff(), 0.0L) * static_cast<long double>(l.size()) *
                            std::numeric_limits<long double>::epsilon();
    long double s = 0;
    for (index_t i = 0; i < l.size(); ++i) {
        if (l[i] > cut) s += std::sqrt(l[i]);
    }
    return s;
}

/// Tr (S1 S2)^{1/2} in long double: Cholesky of S1 (or of S2) and the symmetric form.
long double reference_long_double(const Eigen::MatrixXd& s1, const Eigen::MatrixXd& s2) {
    const ld_matrix a = s1.cast<long double>(), b = s2.cast<long double>();
    for (int side = 0; side < 2; ++side) {
        Eigen::LLT<ld_matrix> llt(side == 0 ? a : b);
        if (llt.info() != Eigen::Success) continue;
        const ld_matrix l = llt.matrixL();
        const ld_matrix m = l.transpose() * (side == 0 ? b : a) * l;
        return sum_sqrt_ld(0.5L * (m + m.transpose()));
    }
    return -1;  // not positive definite: the caller falls back to the exact path
}

// ---- One benchmark case ------------------------------------------------------------

struct bench_case {
    std::string pair;  // commuting, general, rank-deficient, dump
    index_t d = 0;
    double kappa = 0;  // per covariance; 0 for rank-deficient and dump
    index_t rows1 = 0, rows2 = 0;
    Eigen::MatrixXd s1, s2;
    long double reference = 0;
    std::string reference_kind;
};

struct variant {
    std::string label;
    sqrt_options opt;
    bool official = false;
};

std::vector<variant> variants(bool full) {
    std::vector<variant> v;
    v.push_back({"exact", sqrt_options(sqrt_method::exact), false});
    v.push_back({"reference-fast", sqrt_options(sqrt_method::reference_fast), false});
    v.push_back({"official-literal/fp32", sqrt_options(sqrt_method::reference_fast), true});
    const auto add = [&](sqrt_method m, sqrt_form f, precision p, const std::string& extra = "",
                         sqrt_normalization n = sqrt_normalization::frobenius, bool scaling = true) {
        sqrt_options o(m);
        o.form = f;
        o.precision = p;
        o.normalization = n;
        o.scaling = scaling;
        std::string label = std::string(to_string(m));
        if (m == sqrt_method::newton_schulz || m == sqrt_method::denman_beavers) label += "/" + std::string(to_string(f));
        label += extra + "/" + std::string(to_string(p));
        v.push_back({label, o, false});
    };
    for (auto p : {precision::fp64, precision::fp32}) {
        add(sqrt_method::newton_schulz, sqrt_form::symmetric, p);
        add(sqrt_method::newton_schulz, sqrt_form::product, p);
        add(sqrt_method::denman_beavers, sqrt_form::symmetric, p);
        add(sqrt_method::denman_beavers, sqrt_form::product, p);
        add(sqrt_method::pade, sqrt_form::symmetric, p);
        add(sqrt_method::taylor, sqrt_form::symmetric, p);
        if (full) {
            add(sqrt_method::newton_schulz, sqrt_form::symmetric, p, "-trace-norm", sqrt_normalization::trace);
            add(sqrt_method::denman_beavers, sqrt_form::symmetric, p, "-unscaled", sqrt_normalization::frobenius, false);
        }
    }
    return v;
}

struct row {
    std::string pair, variant, method, form, precision, status, reference_kind;
    index_t d = 0, rows1 = 0, rows2 = 0;
    double kappa = 0, seconds = 0, value = 0, reference = 0, rel_error = 0, residual = 0;
    int iterations = 0;
};

/// Runs fn, repeating short runs (up to 0.2 s in all) and keeping the fastest.
template <class Fn>
double time_min(Fn&& fn) {
    double best = INFINITY, total = 0;
    for (int rep = 0; rep < 20 && (rep == 0 || total < 0.2); ++rep) {
        const auto t0 = clock_type::now();
        fn();
        const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
        best = std::min(best, s);
        total += s;
    }
    return best;
}

row run_one(const bench_case& c, const variant& v) {
    row r;
    r.pair = c.pair;
    r.d = c.d;
    r.kappa = c.kappa;
    r.rows1 = c.rows1;
    r.rows2 = c.rows2;
    r.variant = v.label;
    r.method = v.official ? "official-literal" : std::string(to_string(v.opt.method));
    r.form = v.official || v.opt.method == sqrt_method::exact || v.opt.method == sqrt_method::reference_fast
                 ? (v.official ? "product" : "-")
                 : std::string(to_string(v.opt.form));
    r.precision = v.official ? "fp32" : std::string(to_string(v.opt.precision));
    sqrt_result res;
    if (v.official) {
        r.seconds = time_min([&] {
            const auto o = official_loop_literal(c.s1, c.s2);
            res.value = o.trace();
            res.iterations = o.iterations;
            res.residual = o.residual;
            res.status = o.status;
        });
    } else {
        r.seconds = time_min([&] { res = trace_sqrt_with(c.s1, c.s2, v.opt); });
    }
    r.value = res.value;
    r.iterations = res.iterations;
    r.residual = res.residual;
    r.status = std::string(to_string(res.status));
    r.reference = static_cast<double>(c.reference);
    r.reference_kind = c.reference_kind;
    r.rel_error = static_cast<double>(std::abs(static_cast<long double>(res.value) - c.reference) / std::abs(c.reference));
    return r;
}

void set_reference(bench_case& c, long double closed_form = -1) {
    if (closed_form >= 0) {
        c.reference = closed_form;
        c.reference_kind = "closed-form";
        return;
    }
    if (c.d <= 256) {
        const long double r = reference_long_double(c.s1, c.s2);
        if (r >= 0) {
            c.reference = r;
            c.reference_kind = "long-double";
            return;
        }
    }
    c.reference = trace_sqrt_product(c.s1, c.s2);
    c.reference_kind = "exact";
}

bench_case make_kappa_case(const std::string& pair, index_t d, double kappa, unsigned seed) {
    std::mt19937_64 rng(seed * 1000003ULL + static_cast<unsigned long long>(d) * 31 + static_cast<unsigned long long>(std::log10(kappa)));
    bench_case c;
    c.pair = pair;
    c.d = d;
    c.kappa = kappa;
    c.rows1 = c.rows2 = d;
    const Eigen::VectorXd l1 = log_spectrum(d, kappa);
    Eigen::VectorXd l2 = l1;
    std::shuffle(l2.data(), l2.data() + d, rng);
    const Eigen::MatrixXd q1 = random_orthogonal(d, rng);
    c.s1 = with_spectrum(q1, l1);
    if (pair == "commuting") {
        c.s2 = with_spectrum(q1, l2);
        long double s = 0;
        for (index_t i = 0; i < d; ++i) s += std::sqrt(static_cast<long double>(l1[i]) * static_cast<long double>(l2[i]));
        set_reference(c, s);
    } else {
        c.s2 = with_spectrum(random_orthogonal(d, rng), l2);
        set_reference(c);
    }
    return c;
}

/// Covariances of fewer rows than d: n1 = d/2 and n2 = 3d/4 Gaussian rows
/// with a spread of scales (κ 1e4 across directions), exactly rank-deficient.
bench_case make_rank_deficient_case(index_t d, unsigned seed) {
    std::mt19937_64 rng(seed * 7919ULL + static_cast<unsigned long long>(d));
    bench_case c;
    c.pair = "rank-deficient";
    c.d = d;
    c.rows1 = std::max<index_t>(2, d / 2);
    c.rows2 = std::max<index_t>(2, 3 * d / 4);
    const auto factor = [&](index_t n) {
        const Eigen::VectorXd scale = log_spectrum(d, 1e4).array().sqrt();
        Eigen::MatrixXd f = gaussian(n, d, rng) * scale.asDiagonal();
        const Eigen::MatrixXd q = random_orthogonal(d, rng);
        Eigen::MatrixXd fq;
        backend::active::gemm<double>(f, q, fq, 1.0, 0.0, false, true);
        return (fq / std::sqrt(static_cast<double>(n))).eval();
    };
    const Eigen::MatrixXd f1 = factor(c.rows1), f2 = factor(c.rows2);
    backend::active::gemm<double>(f1, f1, c.s1, 1.0, 0.0, true, false);
    backend::active::gemm<double>(f2, f2, c.s2, 1.0, 0.0, true, false);
    // Reference: the small-side problem F1 S2 F1ᵀ (n1 × n1), full rank.
    if (d <= 256) {
        const ld_matrix f = f1.cast<long double>();
        const ld_matrix m = f * c.s2.cast<long double>() * f.transpose();
        c.reference = sum_sqrt_ld(0.5L * (m + m.transpose()));
        c.reference_kind = "long-double";
    } else {
        c.reference = trace_sqrt_product_factor(f1, c.s2).value;
        c.reference_kind = "exact";
    }
    return c;
}

/// The two α-scaled covariances of one layer of a dump (replace-median
/// outliers, as `mir compute` by default).
bench_case make_dump_case(const std::string& path, int layer) {
    const std::vector<std::filesystem::path> files = expand_inputs({std::filesystem::path(path)});
    if (files.empty()) throw file_error(path + ": no dump files");
    std::vector<double> vis, txt;
    index_t d = 0;
    int k = layer;
    for (const auto& f : files) {
        const dump_file file = dump_file::open(f);
        if (k < 0) k = file.num_indices() - 1;
        d = file.hidden_size();
        file.visit_layer(k, [&](bool is_vision, const auto& rows) {
            auto& dst = is_vision ? vis : txt;
            for (index_t i = 0; i < rows.rows; ++i) {
                const auto* r = rows.row(i);
                for (index_t j = 0; j < rows.cols; ++j) dst.push_back(to_acc<double>(r[j]));
            }
        });
    }
    const row_view<double> v(vis.data(), static_cast<index_t>(vis.size()) / d, d);
    const row_view<double> t(txt.data(), static_cast<index_t>(txt.size()) / d, d);
    const auto vn = row_norms(v), tn = row_norms(t);
    const double alpha = text_centric_scale(tn);
    const modality_stats sv = modality_statistics<double>(v, vn, outlier_policy::replace_median);
    const modality_stats st = modality_statistics<double>(t, tn, outlier_policy::replace_median);
    bench_case c;
    c.pair = "dump:layer" + std::to_string(k);
    c.d = d;
    c.rows1 = v.rows;
    c.rows2 = t.rows;
    c.s1 = sv.gaussian.covariance * (alpha * alpha);
    c.s2 = st.gaussian.covariance * (alpha * alpha);
    c.s1.triangularView<Eigen::StrictlyUpper>() = c.s1.transpose();
    c.s2.triangularView<Eigen::StrictlyUpper>() = c.s2.transpose();
    set_reference(c);
    return c;
}

// ---- Output --------------------------------------------------------------------------

std::string csv_line(const row& r) {
    char b[1024];
    std::snprintf(b, sizeof b, "%s,%td,%.6g,%td,%td,%s,%s,%s,%s,%d,%.6g,%.17g,%.17g,%s,%.6g,%.6g,%s\n", r.pair.c_str(),
                  r.d, r.kappa, r.rows1, r.rows2, r.variant.c_str(), r.method.c_str(), r.form.c_str(),
                  r.precision.c_str(), r.iterations, r.seconds, r.value, r.reference, r.reference_kind.c_str(),
                  r.rel_error, r.residual, r.status.c_str());
    return b;
}

constexpr const char* csv_header =
    "pair,d,kappa,rows1,rows2,variant,method,form,precision,iterations,seconds,value,reference,reference_kind,"
    "rel_error,residual,status\n";

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

void write_file(const std::filesystem::path& p, const std::string& s) {
    std::ofstream out(p, std::ios::binary);
    if (!(out << s)) throw file_error(p.string() + ": cannot write");
}

constexpr double rank_def_x = 1e15;  // where rank-deficient cases sit on a κ axis
constexpr double error_floor = 1e-17;

void write_plots(const std::vector<row>& rows, const std::filesystem::path& dir, const std::string& machine) {
    std::vector<std::string> order;
    for (const auto& r : rows) {
        if (std::find(order.begin(), order.end(), r.variant) == order.end()) order.push_back(r.variant);
    }
    const auto series_where = [&](auto pred, auto fx, auto fy, bool lines) {
        std::vector<plot_series> out;
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
            if (!s.x.empty()) out.push_back(std::move(s));
        }
        return out;
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
    const auto kappa_x = [](const row& r) { return r.kappa > 0 ? r.kappa : rank_def_x; };
    const auto err_y = [](const row& r) { return std::max(r.rel_error, error_floor); };
    {
        plot_spec p;
        p.title = "Relative error of Tr (S1 S2)^1/2 against time";
        p.subtitle = dump ? rows.front().pair + ", d = " + std::to_string(rows.front().d) + "; " + machine
                          : "general pairs, d = " + std::to_string(d_time) + ", every kappa and rank-deficient; " + machine;
        p.x_label = "seconds (log)";
        p.y_label = "relative error (log; exact zero drawn at 1e-17)";
        p.y_floor = error_floor;
        auto s = series_where([&](const row& r) { return dump || ((r.pair == "general" || r.pair == "rank-deficient") && r.d == d_time); },
                              [](const row& r) { return r.seconds; }, err_y, false);
        write_file(dir / "error_vs_time.svg", scatter_svg(p, s));
    }
    if (dump) return;
    {
        plot_spec p;
        p.title = "Relative error against the condition number of each covariance";
        p.subtitle = "general pairs, d = " + std::to_string(d_kappa) + " (long-double reference); right: rank-deficient";
        p.x_label = "kappa(S1) = kappa(S2) (log)";
        p.y_label = "relative error (log; exact zero drawn at 1e-17)";
        p.y_floor = error_floor;
        p.extra_x_at = rank_def_x;
        p.extra_x_label = "rank-def.";
        auto s = series_where([&](const row& r) { return (r.pair == "general" || r.pair == "rank-deficient") && r.d == d_kappa; },
                              kappa_x, err_y, true);
        write_file(dir / "error_vs_kappa.svg", scatter_svg(p, s));
    }
    {
        plot_spec p;
        p.title = "Iterations against the condition number";
        p.subtitle = "general pairs, d = " + std::to_string(d_kappa) + "; right: rank-deficient";
        p.x_label = "kappa(S1) = kappa(S2) (log)";
        p.y_label = "iterations";
        p.log_y = false;
        p.extra_x_at = rank_def_x;
        p.extra_x_label = "rank-def.";
        auto s = series_where(
            [&](const row& r) {
                return (r.pair == "general" || r.pair == "rank-deficient") && r.d == d_kappa &&
                       (r.method == "newton-schulz" || r.method == "denman-beavers");
            },
            kappa_x, [](const row& r) { return static_cast<double>(r.iterations); }, true);
        write_file(dir / "iterations_vs_kappa.svg", scatter_svg(p, s));
    }
    {
        plot_spec p;
        p.title = "Time against d";
        p.subtitle = "general pairs, kappa = 1e4 per covariance; " + machine;
        p.x_label = "d (log)";
        p.y_label = "seconds (log)";
        auto s = series_where([&](const row& r) { return r.pair == "general" && r.kappa == 1e4; },
                              [](const row& r) { return static_cast<double>(r.d); },
                              [](const row& r) { return r.seconds; }, true);
        write_file(dir / "time_vs_d.svg", scatter_svg(p, s));
    }
}

/// Rows back from a sqrt_bench.csv (the format csv_line writes).
std::vector<row> read_csv(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw file_error(path + ": cannot read");
    std::string line;
    std::getline(in, line);
    if (line + "\n" != csv_header) throw file_error(path + ": not a sqrt_bench.csv");
    std::vector<row> rows;
    while (std::getline(in, line)) {
        std::vector<std::string> f;
        std::size_t a = 0;
        for (std::size_t b; (b = line.find(',', a)) != std::string::npos; a = b + 1) f.push_back(line.substr(a, b - a));
        f.push_back(line.substr(a));
        if (f.size() != 17) throw file_error(path + ": malformed line: " + line);
        row r;
        r.pair = f[0];
        r.d = std::stol(f[1]);
        r.kappa = std::stod(f[2]);
        r.rows1 = std::stol(f[3]);
        r.rows2 = std::stol(f[4]);
        r.variant = f[5];
        r.method = f[6];
        r.form = f[7];
        r.precision = f[8];
        r.iterations = std::stoi(f[9]);
        r.seconds = std::stod(f[10]);
        r.value = std::stod(f[11]);
        r.reference = std::stod(f[12]);
        r.reference_kind = f[13];
        r.rel_error = std::stod(f[14]);
        r.residual = std::stod(f[15]);
        r.status = f[16];
        rows.push_back(std::move(r));
    }
    return rows;
}

}  // namespace

int run_bench_sqrt(const bench_sqrt_options& o) {
    if (!o.replot.empty()) {
        std::filesystem::create_directories(o.out);
        write_plots(read_csv(o.replot), o.out,
                    std::string("BLAS ") + backend::active::name() + ", " + std::to_string(o.blas_threads) + " thread(s)");
        return 0;
    }
#if MIR_USE_LAPACK && defined(OPENBLAS_VERSION)
    openblas_set_num_threads(o.blas_threads);
#endif
    const auto t_start = clock_type::now();
    const std::filesystem::path dir(o.out);
    std::filesystem::create_directories(dir);
    const std::string machine = std::string("BLAS ") + backend::active::name() + ", " +
                                std::to_string(o.blas_threads) + " thread(s)";
    const std::vector<variant> all = variants(o.full);

    // The plan: (case maker, the variants to run on it).
    struct job {
        std::function<bench_case()> make;
        std::vector<const variant*> which;
        std::string what;
    };
    std::vector<job> jobs;
    const auto every = [&] {
        std::vector<const variant*> w;
        for (const auto& v : all) w.push_back(&v);
        return w;
    };
    const auto only = [&](std::initializer_list<const char*> names) {
        std::vector<const variant*> w;
        for (const auto& v : all) {
            for (const char* n : names) {
                if (v.label == n) w.push_back(&v);
            }
        }
        return w;
    };
    std::vector<double> kappas = o.kappas.empty() ? std::vector<double>{1e2, 1e4, 1e6, 1e8, 1e10, 1e12} : o.kappas;
    if (!o.from_dump.empty()) {
        jobs.push_back({[&] { return make_dump_case(o.from_dump, o.layer); }, every(), "dump " + o.from_dump});
    } else {
        std::vector<int> dims = o.dims;
        if (dims.empty()) dims = o.full ? std::vector<int>{64, 128, 256, 512, 1024, 2048, 4096}
                                        : std::vector<int>{64, 128, 256, 512, 1024};
        // Default grid: fp32 variants up to d = 512, fp64 (and the exact path,
        // reference-fast, official-literal) up to d = 1024.
        const auto for_d = [&](int d) {
            if (o.full || !o.dims.empty() || d <= 512) return every();
            std::vector<const variant*> w;
            for (const auto& v : all) {
                if (v.official || v.opt.precision == precision::fp64) w.push_back(&v);
            }
            return w;
        };
        for (int d : dims) {
            for (double k : kappas) {
                jobs.push_back({[=, &o] { return make_kappa_case("general", d, k, o.seed); }, for_d(d),
                                "general d=" + std::to_string(d) + " kappa=" + std::to_string(k)});
            }
            jobs.push_back({[=, &o] { return make_rank_deficient_case(d, o.seed); }, for_d(d),
                            "rank-deficient d=" + std::to_string(d)});
            if (o.full || d <= 256 || !o.dims.empty()) {
                for (double k : kappas) {
                    jobs.push_back({[=, &o] { return make_kappa_case("commuting", d, k, o.seed); }, for_d(d),
                                    "commuting d=" + std::to_string(d) + " kappa=" + std::to_string(k)});
                }
            }
        }
        if (!o.full && o.dims.empty()) {
            // Larger d: the exact path (and the two non-roots) over the κ range
            // at 2048 and at one κ at 4096; Newton–Schulz and Denman–Beavers at
            // d = 2048, κ = 1e4 (one NS iteration at 4096 costs 4e11 flops).
            for (double k : {1e2, 1e6, 1e12}) {
                jobs.push_back({[=, &o] { return make_kappa_case("general", 2048, k, o.seed); },
                                only({"exact", "reference-fast", "official-literal/fp32"}),
                                "general d=2048 kappa=" + std::to_string(k)});
            }
            jobs.push_back({[&o] { return make_kappa_case("general", 4096, 1e6, o.seed); }, only({"exact", "reference-fast"}),
                            "general d=4096 kappa=1e6"});
            jobs.push_back({[&o] { return make_kappa_case("general", 2048, 1e4, o.seed); },
                            only({"exact", "reference-fast", "newton-schulz/symmetric/fp64", "newton-schulz/symmetric/fp32",
                                  "denman-beavers/symmetric/fp64", "denman-beavers/symmetric/fp32"}),
                            "general d=2048 kappa=1e4"});
        }
    }

    std::vector<row> rows;
    std::string csv = csv_header;
    for (std::size_t j = 0; j < jobs.size(); ++j) {
        const auto tj = clock_type::now();
        const bench_case c = jobs[j].make();
        for (const variant* v : jobs[j].which) {
            rows.push_back(run_one(c, *v));
            csv += csv_line(rows.back());
        }
        if (!o.quiet) {
            std::fprintf(stderr, "[%zu/%zu] %s: %.1f s (total %.0f s)\n", j + 1, jobs.size(), jobs[j].what.c_str(),
                         std::chrono::duration<double>(clock_type::now() - tj).count(),
                         std::chrono::duration<double>(clock_type::now() - t_start).count());
        }
        write_file(dir / "sqrt_bench.csv", csv);  // partial results survive an interrupted sweep
    }
    const double elapsed = std::chrono::duration<double>(clock_type::now() - t_start).count();
    nlohmann::ordered_json doc;
    doc["blas"] = backend::active::name();
    doc["blas_threads"] = o.blas_threads;
    doc["full"] = o.full;
    doc["from_dump"] = o.from_dump;
    doc["seed"] = o.seed;
    doc["elapsed_s"] = elapsed;
    doc["rows"] = nlohmann::ordered_json::array();
    for (const auto& r : rows) doc["rows"].push_back(to_json(r));
    write_file(dir / "sqrt_bench.json", doc.dump(1) + "\n");
    write_plots(rows, dir, machine);
    if (!o.quiet) {
        std::printf("%zu rows in %.1f s; wrote %s/{sqrt_bench.csv,sqrt_bench.json,*.svg}\n", rows.size(), elapsed,
                    dir.string().c_str());
        // A short summary: worst relative error per variant.
        std::map<std::string, std::pair<double, double>> worst;  // variant → (max error, total seconds)
        for (const auto& r : rows) {
            auto& w = worst[r.variant];
            w.first = std::max(w.first, r.rel_error);
            w.second += r.seconds;
        }
        std::printf("%-34s %14s %12s\n", "variant", "max rel error", "seconds");
        for (const auto& [name, w] : worst) std::printf("%-34s %14.3g %12.3f\n", name.c_str(), w.first, w.second);
    }
    return 0;
}

}  // namespace mir::tool
