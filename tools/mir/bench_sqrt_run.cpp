// `mir bench-sqrt`: every square-root method against a trusted reference,
// over sizes, condition numbers, rank deficiency and precisions — the plan,
// the runner and the subcommand.
#include "bench_sqrt.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include <mir/source/dump.hpp>

#include "bench_sqrt_detail.hpp"
#include "command.hpp"
#include "output.hpp"
#include "provenance.hpp"
#include "usage.hpp"

namespace mir::tool {

namespace sqrt_bench {

namespace {

using clock_type = std::chrono::steady_clock;

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

}  // namespace

row run_one(const bench_case& c, const variant& v) {
    row r;
    r.pair = c.pair;
    r.d = c.d;
    r.kappa = c.kappa;
    r.rows1 = c.rows1;
    r.rows2 = c.rows2;
    r.variant = v.label;
    r.method = v.official ? "official-literal" : std::string(to_string(v.opt.method));
    r.form = v.official ? "product" : !info(v.opt.method).approximate ? "-" : std::string(to_string(v.opt.form));
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

}  // namespace sqrt_bench

namespace {

constexpr int max_dim = 16384;  // a d x d pair of doubles is 4 GiB at this size; --full stops at 4096

void check_arguments(const bench_sqrt_options& o) {
    for (int d : o.dims) {
        if (d < 1 || d > max_dim) {
            throw usage_error("--dims " + std::to_string(d) + ": each size must be in 1.." + std::to_string(max_dim));
        }
    }
    for (double k : o.kappas) {
        if (!std::isfinite(k) || !(k >= 1.0)) {
            char b[64];
            std::snprintf(b, sizeof b, "%g", k);
            throw usage_error(std::string("--kappas ") + b + ": each condition number must be a finite number >= 1");
        }
    }
    if (o.layer >= 0 && o.from_dump.empty()) throw usage_error("--layer needs --from-dump");
    if (!o.replot.empty() && (!o.from_dump.empty() || !o.dims.empty() || !o.kappas.empty() || o.full)) {
        throw usage_error("--replot only redraws the plots: it takes no --from-dump, --dims, --kappas or --full");
    }
}

// The outputs of a run (or of --replot) in --out, checked before any work.
void declare_outputs(output_set& out, const std::filesystem::path& dir, bool replot, const bench_sqrt_options& o) {
    if (!replot) {
        out.declare("--out", (dir / "sqrt_bench.csv").string());
        out.declare("--out", (dir / "sqrt_bench.json").string());
    }
    for (const char* f : sqrt_bench::plot_files) out.declare("--out", (dir / f).string());
    std::vector<std::filesystem::path> inputs;
    if (!o.replot.empty()) inputs.emplace_back(o.replot);
    if (!o.from_dump.empty()) {
        inputs.emplace_back(o.from_dump);
        for (auto& f : expand_inputs({std::filesystem::path(o.from_dump)})) inputs.push_back(std::move(f));
    }
    out.check(inputs);
}

}  // namespace

int run_bench_sqrt(const bench_sqrt_options& o) {
    using namespace sqrt_bench;
    check_arguments(o);
    const std::filesystem::path dir(o.out);
    std::filesystem::create_directories(dir);
    output_set out;
    declare_outputs(out, dir, !o.replot.empty(), o);
    if (!o.replot.empty()) {
        write_plots(out, read_csv(o.replot), dir,
                    std::string("BLAS ") + backend::active::name() + ", " + std::to_string(o.blas_threads) +
                        " thread(s)");
        out.commit();
        return 0;
    }
#if MIR_USE_LAPACK && defined(OPENBLAS_VERSION)
    openblas_set_num_threads(o.blas_threads);
#endif
    const auto t_start = clock_type::now();
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
        // Partial results survive an interrupted sweep: the CSV replaced (atomically) after every case.
        write_output((dir / "sqrt_bench.csv").string(), csv, "the benchmark CSV");
    }
    const double elapsed = std::chrono::duration<double>(clock_type::now() - t_start).count();
    nlohmann::ordered_json doc;  // docs/schema/bench-sqrt.schema.json
    doc["schema_version"] = result_schema_version;
    doc["full"] = o.full;
    doc["from_dump"] = o.from_dump;
    doc["seed"] = o.seed;
    doc["elapsed_s"] = elapsed;
    doc["rows"] = nlohmann::ordered_json::array();
    for (const auto& r : rows) doc["rows"].push_back(to_json(r));
    // With --from-dump, the dump's inputs record too (which file, which layer's rows).
    std::optional<dump_source> dump;
    if (!o.from_dump.empty()) dump.emplace(dump_source::open(std::filesystem::path(o.from_dump)));
    append_provenance(doc, o.sub, nullptr, dump ? &*dump : nullptr);
    out.put((dir / "sqrt_bench.csv").string(), csv, "the benchmark CSV");
    out.put((dir / "sqrt_bench.json").string(), doc.dump(1) + "\n", "the benchmark JSON");
    write_plots(out, rows, dir, machine);
    out.commit();
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

command register_bench_sqrt(CLI::App& app) {
    const auto o = std::make_shared<bench_sqrt_options>();
    auto* c = app.add_subcommand(
        "bench-sqrt", "accuracy and cost of every square-root method (CSV, JSON, SVG plots; docs/sqrt-benchmark.md)");
    c->add_option("--out", o->out, "output directory (default sqrt-bench)");
    c->add_flag("--full", o->full, "the full grid: every method up to d = 4096 (hours)");
    c->add_option("--dims", o->dims, "sizes of the main grid, e.g. 64,256 (default 64-1024, plus exact at 2048/4096)")
        ->delimiter(',');
    c->add_option("--kappas", o->kappas, "condition numbers per covariance (default 1e2,1e4,...,1e12)")->delimiter(',');
    c->add_option("--from-dump", o->from_dump, "benchmark the two covariances of one layer of this dump instead");
    c->add_option("--layer", o->layer, "with --from-dump: hidden-state index >= 0 (default: the last)")
        ->check(CLI::Range(0, 1 << 30));
    c->add_option("--seed", o->seed, "random seed of the test matrices");
    c->add_option("--blas-threads", o->blas_threads, "OpenBLAS threads (default 1)")->check(CLI::Range(1, 1024));
    c->add_flag("--quiet", o->quiet, "no progress or summary");
    c->add_option("--replot", o->replot, "only redraw the SVGs of this sqrt_bench.csv into --out");
    o->sub = c;
    return {c, [o] { return run_bench_sqrt(*o); }};
}

}  // namespace mir::tool
