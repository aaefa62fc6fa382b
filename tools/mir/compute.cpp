#include "compute.hpp"

#include <mir/source/dump.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>

#include "cli_options.hpp"
#include "command.hpp"
#include "layer_runner.hpp"
#include "layers.hpp"
#include "merge.hpp"
#include "output.hpp"
#include "plot.hpp"
#include "provenance.hpp"

namespace mir::tool {

layer_result compute_layer_from_files(const dump_summary& d, int layer, const layer_options& opt) {
    const auto replay = [&](auto&& sink) { d.replay_layer(layer, sink); };
    return with_precision(opt.precision,
                          [&]<class Acc>() { return compute_layer_multipass<Acc>(replay, d.hidden_size(), opt); });
}

layer_jackknife compute_layer_jackknife_from_files(const dump_summary& d, int layer, int groups,
                                                   const layer_options& opt) {
    const auto replay = [&](auto&& sink, auto&& on_sample) { d.replay_layer(layer, sink, on_sample); };
    return with_precision(opt.precision, [&]<class Acc>() {
        return compute_layer_jackknife<Acc>(replay, d.hidden_size(), groups, opt);
    });
}

int jackknife_groups(const compute_options& o, std::size_t files) {
    if (files < 2) {
        throw usage_error(
            "--ci needs at least 2 files (samples): the interval comes from the variation over "
            "samples, and " +
            std::to_string(files) + " file was given");
    }
    const int g = o.ci_groups > 0 ? o.ci_groups : static_cast<int>(std::min<std::size_t>(files, 10));
    if (static_cast<std::size_t>(g) > files) {
        throw usage_error("--ci-groups " + std::to_string(g) + " with " + std::to_string(files) +
                          " files: every group needs a file (at most as many groups as files)");
    }
    return g;
}

nlohmann::ordered_json interval_json(const jackknife_interval& j) {
    nlohmann::ordered_json c;
    c["level"] = j.level;
    c["method"] = "grouped-jackknife";
    c["groups"] = j.groups;
    c["lower"] = j.lower;
    c["upper"] = j.upper;
    c["std_error"] = j.std_error;
    c["bias"] = j.bias;
    c["t_quantile"] = j.t_quantile;
    c["leave_out"] = j.leave_out;
    return c;
}

namespace {

std::string describe_method(const compute_options& o) {
    const std::string sqrt = info(o.sqrt.method).emulation ? " emulation (not a square root), " : " square root, ";
    return std::string(to_string(o.sqrt.method)) + sqrt + std::string(to_string(o.policy)) + " outliers, " +
           std::string(to_string(o.precision)) + " accumulation";
}

bool converged(const layer_result& l) {
    return l.terms.sqrt_outcome == sqrt_status::converged || l.terms.sqrt_outcome == sqrt_status::not_iterative;
}

/// The per-layer table on stdout: aligned text (table), CSV (one header
/// line, a row per layer, then "# MIR = ..." and "# ..." lines that CSV
/// readers skip as comments), or a Markdown table for pasting.
void print_table(const mir_result& r, const compute_options& o, const result_origin& d, const result_uncertainty* ci) {
    const bool emulation = o.sqrt.method == sqrt_method::official_fast;
    const bool iterative = info(o.sqrt.method).iterative;  // a status column: "converged", or what happened
    const std::string about = std::to_string(d.files) + " file(s), hidden size " + std::to_string(d.hidden_size) +
                              ", " + std::to_string(d.num_indices) + " hidden-state indices; " + describe_method(o);
    const char* note =
        "note: --sqrt official-fast EMULATES the official default (\"fast\") mode: its float32 loop does not\n"
        "      return a square root (about Tr(Sv St)/16 on real layers), so these are not Fréchet distances;\n"
        "      use them only to compare with published MIR values (docs/comparing.md, SPEC §3).\n";
    std::vector<std::string> cols = {"layer",   "vis_rows",  "txt_rows",
                                     "vis_out", "txt_out",   "alpha",
                                     "fid",     "mean_term", emulation ? "trace_loop" : "trace_sqrt"};
    if (iterative) cols.emplace_back("sqrt_status");
    if (ci) {
        cols.emplace_back("fid_lo");
        cols.emplace_back("fid_hi");
    }
    const bool csv = o.format == "csv";  // every digit (%.17g: doubles round-trip); Markdown as the table
    const auto layer_ci = [&](const layer_result& l) -> const jackknife_interval* {
        if (!ci) return nullptr;
        for (std::size_t i = 0; i < r.layers.size(); ++i) {
            if (r.layers[i].layer == l.layer) return &ci->jackknife.fids[i];
        }
        return nullptr;
    };
    // "MIR = x (95% CI [a, b]; ...)": the interval and how it was made.
    const auto mir_ci = [&](const char* fmt) {
        if (!ci) return std::string();
        const jackknife_interval& j = ci->jackknife.mir;
        char buf[256];
        std::snprintf(buf, sizeof buf, fmt, 100.0 * j.level, j.lower, j.upper, j.std_error, d.files, j.groups);
        return std::string(buf);
    };
    const auto cells = [&](const layer_result& l) {
        char num[4][32];
        std::snprintf(num[0], sizeof num[0], csv ? "%.17g" : "%.5g", l.alpha);
        std::snprintf(num[1], sizeof num[1], csv ? "%.17g" : "%.6g", l.fid);
        std::snprintf(num[2], sizeof num[2], csv ? "%.17g" : "%.6g", l.terms.mean_term);
        std::snprintf(num[3], sizeof num[3], csv ? "%.17g" : "%.6g", l.terms.trace_sqrt);
        std::vector<std::string> c = {std::to_string(l.layer),
                                      std::to_string(l.vision.rows),
                                      std::to_string(l.text.rows),
                                      std::to_string(l.vision.outliers),
                                      std::to_string(l.text.outliers),
                                      num[0],
                                      num[1],
                                      num[2],
                                      num[3]};
        if (iterative) {
            c.push_back(std::string(to_string(l.terms.sqrt_outcome)) + (converged(l) ? "" : " (NOT CONVERGED)"));
        }
        if (const jackknife_interval* j = layer_ci(l)) {
            char b[2][32];
            std::snprintf(b[0], sizeof b[0], csv ? "%.17g" : "%.6g", j->lower);
            std::snprintf(b[1], sizeof b[1], csv ? "%.17g" : "%.6g", j->upper);
            c.emplace_back(b[0]);
            c.emplace_back(b[1]);
        }
        return c;
    };
    if (csv) {
        for (std::size_t i = 0; i < cols.size(); ++i) std::printf("%s%s", i ? "," : "", cols[i].c_str());
        std::printf("\n");
        for (const auto& l : r.layers) {
            const auto c = cells(l);
            for (std::size_t i = 0; i < c.size(); ++i) std::printf("%s%s", i ? "," : "", c[i].c_str());
            std::printf("\n");
        }
        std::printf("# MIR = %.17g\n", r.mir);
        if (ci) {
            std::printf("%s", mir_ci("# MIR %g%% CI = [%.17g, %.17g]; std_error %.17g; grouped jackknife over %zu "
                                     "files in %d groups\n")
                                  .c_str());
        }
        std::printf("# %s\n", about.c_str());
        if (emulation) std::printf("# --sqrt official-fast: an emulation of the official fast mode, not FIDs\n");
        return;
    }
    if (o.format == "markdown") {
        std::printf("%s\n\n", about.c_str());
        if (emulation)
            std::printf("> %s\n\n", "--sqrt official-fast EMULATES the official fast mode: not Fréchet distances");
        std::string sep = "|";
        for (const auto& c : cols) {
            std::printf("| %s ", c.c_str());
            sep += c == "layer" || c == "sqrt_status" ? "---|" : "---:|";
        }
        std::printf("|\n%s\n", sep.c_str());
        for (const auto& l : r.layers) {
            for (const auto& c : cells(l)) std::printf("| %s ", c.c_str());
            std::printf("|\n");
        }
        std::printf(
            "\n**MIR = %.6f**%s\n", r.mir,
            mir_ci(" (%g%% CI [%.6f, %.6f]; std. error %.4f; grouped jackknife, %zu files in %d groups)").c_str());
        return;
    }
    std::printf("%s\n", about.c_str());
    if (emulation) std::printf("%s", note);
    std::printf("%5s %9s %9s %8s %8s %11s %13s %13s %13s%s%s\n", "layer", "vis_rows", "txt_rows", "vis_out", "txt_out",
                "alpha", "fid", "mean_term", emulation ? "trace_loop" : "trace_sqrt", iterative ? "  sqrt_status" : "",
                ci ? "        fid_lo        fid_hi" : "");
    for (const auto& l : r.layers) {
        std::printf("%5d %9td %9td %8td %8td %11.5g %13.6g %13.6g %13.6g", l.layer, l.vision.rows, l.text.rows,
                    l.vision.outliers, l.text.outliers, l.alpha, l.fid, l.terms.mean_term, l.terms.trace_sqrt);
        if (iterative) {
            std::printf("  %s%s", std::string(to_string(l.terms.sqrt_outcome)).c_str(),
                        converged(l) ? "" : " (NOT CONVERGED)");
        }
        if (const jackknife_interval* j = layer_ci(l)) std::printf(" %13.6g %13.6g", j->lower, j->upper);
        std::printf("\n");
    }
    std::printf("MIR = %.6f%s\n", r.mir,
                mir_ci(" (%g%% CI [%.6f, %.6f]; std. error %.4f; grouped jackknife, %zu files in %d groups)").c_str());
}

}  // namespace

result_origin origin_of(const dump_summary& d) {
    return {d.files().size(), d.hidden_size(), d.num_indices(), inputs_record(d)};
}

nlohmann::ordered_json result_json(const mir_result& r, const compute_options& o, const result_origin& d,
                                   const run_details& run, const result_uncertainty* ci) {
    const sqrt_method_info& method = info(o.sqrt.method);  // which sqrt_* fields apply
    nlohmann::ordered_json j;
    j["schema_version"] = result_schema_version;
    j["mir"] = r.mir;
    j["sqrt"] = std::string(method.name);
    if (method.emulation)
        j["sqrt_emulation"] = "official fast mode (mir_util.MatrixSquareRoot in float32); not a square root";
    if (method.iterative) {
        j["sqrt_tol"] = o.sqrt.tol > 0 ? o.sqrt.tol : default_sqrt_tol<double>();
        j["sqrt_max_iter"] = o.sqrt.max_iter;
    }
    j["outliers"] = std::string(to_string(o.policy));
    j["precision"] = std::string(to_string(o.precision));
    j["hidden_size"] = d.hidden_size;
    j["files"] = d.files;
    if (ci) {
        j["ci"] = interval_json(ci->jackknife.mir);
        j["ci"]["samples"] = d.files;
    }
    j["fid_sum"] = r.fid_sum;
    j["fid_sum_bound"] = r.fid_sum_bound;
    if (method.iterative) {
        bool all = true;
        for (const auto& l : r.layers) all = all && converged(l);
        j["sqrt_converged"] = all;
    }
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    for (std::size_t li = 0; li < r.layers.size(); ++li) {
        const layer_result& l = r.layers[li];
        nlohmann::ordered_json e;
        e["layer"] = l.layer;
        e["fid"] = l.fid;
        e["fid_bound"] = l.fid_bound;
        if (ci) e["ci"] = interval_json(ci->jackknife.fids[li]);
        e["mean_term"] = l.terms.mean_term;
        e["trace_vision"] = l.terms.trace_1;
        e["trace_text"] = l.terms.trace_2;
        e["trace_sqrt"] = l.terms.trace_sqrt;
        e["alpha"] = l.alpha;
        e["vision_rows"] = l.vision.rows;
        e["text_rows"] = l.text.rows;
        e["vision_outliers"] = l.vision.outliers;
        e["text_outliers"] = l.text.outliers;
        e["sqrt_route"] = std::string(to_string(l.terms.route));
        if (method.iterative) e["sqrt_iterations"] = l.terms.sqrt_iterations;
        if (method.has_residual) e["sqrt_residual"] = l.terms.sqrt_residual;
        if (method.iterative) e["sqrt_status"] = std::string(to_string(l.terms.sqrt_outcome));
        const auto at = std::find(run.layers.begin(), run.layers.end(), l.layer);
        if (at != run.layers.end()) e["wall_s"] = run.layer_seconds[static_cast<std::size_t>(at - run.layers.begin())];
        layers.push_back(std::move(e));
    }
    j["layers"] = std::move(layers);
    // Provenance: which mir, command and options, inputs, machine; when.
    append_provenance(j, run.sub, &run.threads, nullptr);
    j["inputs"] = d.inputs;
    return j;
}

void report_result(std::vector<layer_result> results, const compute_options& o, const result_origin& d,
                   const run_details& run, output_set& out, const result_uncertainty* ci) {
    const bool to_stdout = o.json == "-" || o.plot == "-";
    for (const auto& l : results) {
        if (!converged(l)) {
            std::fprintf(stderr,
                         "mir: warning: layer %d: the %s square root did not converge (%s after %d iterations, "
                         "residual %.3g); its FID and the MIR are not reliable\n",
                         l.layer, std::string(to_string(o.sqrt.method)).c_str(),
                         std::string(to_string(l.terms.sqrt_outcome)).c_str(), l.terms.sqrt_iterations,
                         l.terms.sqrt_residual);
        }
    }
    const mir_result r = aggregate(std::move(results));
    if (!o.json.empty()) out.put(o.json, json_text(result_json(r, o, d, run, ci)), "the JSON output");
    if (!o.plot.empty()) {
        out.put(o.plot, fid_plot_svg(r, describe_method(o) + ", " + std::to_string(d.files) + " files"), "the plot");
    }
    out.commit();
    if (!to_stdout) {
        if (o.format != "none") print_table(r, o, d, ci);
        if (!o.plot.empty() && !o.quiet) {  // not inside a CSV or Markdown table (nor on a silent stdout)
            std::fprintf(o.format == "table" ? stdout : stderr, "plot written to %s\n", o.plot.c_str());
        }
    }
}

int run_compute(const compute_options& o) {
    if (o.ci > 0.0 && !o.save_state.empty()) {
        throw usage_error(
            "--ci LEVEL goes to the last `mir merge` (it reports the interval); a shard keeps the jackknife's "
            "groups with --ci-groups G, the same G on every shard (docs/uncertainty.md)");
    }
    if (o.first_sample >= 0 && o.save_state.empty()) {
        throw usage_error("--first-sample places a shard's files among all shards' files: it needs --save-state");
    }
    if (o.mpi) {
        if (!o.save_state.empty() || !o.resume.empty()) {
            throw usage_error("--mpi merges the ranks' passes itself: no --save-state or --resume");
        }
        return run_compute_mpi(o);
    }
    if (!o.save_state.empty()) return run_shard_pass(o);
    if (!o.resume.empty()) throw usage_error("--resume needs --save-state (a shard's pass is saved, then merged)");
    if (o.ci_groups != 0 && o.ci == 0.0) {
        throw usage_error("--ci-groups needs --ci LEVEL (or, for a shard's state, --save-state)");
    }
    std::vector<std::filesystem::path> inputs(o.inputs.begin(), o.inputs.end());
    // Every output checked before any work: on stdout at most one, distinct files, none an input.
    output_set out;
    out.declare("--json", o.json);
    out.declare("--plot", o.plot);
    std::vector<std::filesystem::path> everything = expand_inputs(inputs);
    everything.insert(everything.end(), inputs.begin(), inputs.end());
    out.check(everything);

    const dump_summary d = dump_source::open(inputs);
    const std::vector<int> layers = parse_layers(o.layers, d.num_indices());
    const int groups = o.ci > 0.0 ? jackknife_groups(o, d.files().size()) : 0;
    progress_display display(resolve_progress_mode(o.progress, o.quiet), progress_work_of(d, layers), o.progress);
    files_result r = compute_files(d, layers, o, groups, &display);
    report_result(std::move(r.layers), o, origin_of(d), r.run, out, r.ci ? &*r.ci : nullptr);
    return 0;
}

files_result compute_files(const dump_summary& d, const std::vector<int>& layers, const compute_options& o, int groups,
                           progress_display* display) {
    files_result r;
    r.layers.resize(layers.size());
    std::vector<layer_jackknife> jackknifes(groups > 0 ? layers.size() : 0);
    r.run.sub = o.sub;
    r.run.layers = layers;
    r.run.layer_seconds.assign(layers.size(), 0.0);
    layer_options lo;
    lo.policy = o.policy;
    lo.sqrt = o.sqrt;
    lo.precision = o.precision;
    r.run.threads = plan_and_apply_threads(o.threads, layers.size(), d.hidden_size(), groups);
    run_layers(layers, r.run.threads.layer_workers, [&](std::size_t i) {
        layer_options li = lo;
        li.layer = layers[i];
        if (display) li.progress = display->callback(i);
        const auto t0 = std::chrono::steady_clock::now();
        if (groups > 0) {
            jackknifes[i] = compute_layer_jackknife_from_files(d, layers[i], groups, li);
            r.layers[i] = jackknifes[i].result;
        } else {
            r.layers[i] = compute_layer_from_files(d, layers[i], li);
        }
        r.run.layer_seconds[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (display) display->layer_done(i);
    });
    if (display) display->finish();
    if (groups > 0) r.ci = result_uncertainty{jackknife_mir(jackknifes, o.ci)};
    return r;
}

command register_compute(CLI::App& app) {
    struct state {
        compute_options o;
        std::string policy_name = std::string(to_string(outlier_policy::replace_median));
        std::string sqrt_name = std::string(to_string(sqrt_method::exact));
        std::string precision_name = std::string(to_string(precision::fp64));
    };
    const auto s = std::make_shared<state>();
    auto* c = app.add_subcommand("compute", "MIR and per-layer FID of hidden-state dumps");
    c->add_option("paths", s->o.inputs, "dump files, or directories of .safetensors/.npz files")->required();
    c->add_option("--layers", s->o.layers, "hidden-state indices: all, 1-32, 1,4,8 (default: every index but 0)");
    add_outliers_option(*c, s->policy_name);
    add_sqrt_options(*c, s->sqrt_name, s->o.sqrt);
    add_precision_option(*c, s->precision_name);
    c->add_option("--json", s->o.json, "write the result as JSON to FILE (- for stdout, nothing else printed)");
    c->add_option("--plot", s->o.plot,
                  "write an SVG plot of per-layer FID to FILE (- for stdout, nothing else printed)");
    add_threads_option(*c, s->o.threads);
    c->add_option("--format", s->o.format,
                  "the per-layer table on stdout: table (default), csv, markdown or none (nothing on stdout)")
        ->check(CLI::IsMember({"table", "csv", "markdown", "none"}));
    c->add_flag("--quiet", s->o.quiet, "no progress on stderr (unless --progress always|json)");
    add_progress_options(*c, s->o.progress);
    c->add_option("--save-state", s->o.save_state,
                  "sharded run: compute only the pass in progress over these files and save this shard's share to "
                  "FILE, for mir merge (docs/merging.md)");
    c->add_option("--resume", s->o.resume, "with --save-state: the merged state (from mir merge) the pass starts from");
    c->add_flag("--mpi", s->o.mpi,
                "under mpirun: share the files among the ranks in blocks and merge every pass exactly; rank 0 "
                "reports (builds with MIR_BUILD_MPI)");
    c->add_option("--ci", s->o.ci,
                  "also a LEVEL confidence interval (e.g. 0.95) for MIR and each layer's FID: a grouped jackknife "
                  "over the files (samples) (docs/uncertainty.md)")
        ->check(finite_between(0.0, 1.0, "LEVEL"));
    c->add_option("--ci-groups", s->o.ci_groups,
                  "with --ci: deal the files into G groups, file i into group i mod G (default: min(files, 10))")
        ->check(CLI::Range(2, layer_passes<double>::max_groups));
    c->add_option("--first-sample", s->o.first_sample,
                  "with --save-state and --ci-groups: the index of this shard's first file among all shards' files "
                  "in shard order (file i goes to group i mod G; default 0, or found in the --resume state)")
        ->check(CLI::NonNegativeNumber);
    s->o.sub = c;
    return {c, [s] {
                try {  // the names were checked by the parser; what is left (reference-fast) is a usage error
                    s->o.policy = parse_outlier_policy(s->policy_name);
                    s->o.sqrt.method = parse_compute_sqrt_method(s->sqrt_name);
                    s->o.precision = parse_precision(s->precision_name);
                } catch (const argument_error& e) {
                    throw usage_error(e.message());
                }
                return run_compute(s->o);
            }};
}

}  // namespace mir::tool
