// `mir track`: MIR across the checkpoints of a pre-training run — a table,
// JSON and plots (MIR against step; per-layer FID against step as a heat
// map) — and where it saturates: the first checkpoint after which MIR
// improves by less than --threshold within the next --window checkpoints,
// the signal the paper uses to stop pre-training (docs/cli.md, track).
#include <mir/mir.hpp>
#include <mir/source/dump.hpp>
#include <mir/source/saved_state.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli_options.hpp"
#include "command.hpp"
#include "compute.hpp"
#include "layer_runner.hpp"
#include "layers.hpp"
#include "merge.hpp"
#include "output.hpp"
#include "provenance.hpp"
#include "svg_plot.hpp"
#include "usage.hpp"

namespace mir::tool {

namespace {

std::string g(double v, const char* fmt = "%.6g") {
    char b[40];
    std::snprintf(b, sizeof b, fmt, v);
    return b;
}

struct track_options {
    std::vector<std::string> inputs;
    std::vector<long long> steps;  // --steps; else from the names
    double threshold = 0.01;
    int window = 3;
    std::string json, plot, heatmap, format = "table";
    bool quiet = false;
    compute_options compute;  // for dump inputs: --layers, --outliers, --sqrt, --precision, --threads; --ci
    const CLI::App* sub = nullptr;
};

struct checkpoint {
    long long step = 0;
    std::string path;
    double mir = 0.0, fid_sum = 0.0;
    std::vector<std::pair<int, double>> layers;  // (hidden-state index, FID)
    // With --ci: MIR's interval and each layer's (compute.schema.json#/$defs/ci); null / empty without.
    nlohmann::ordered_json ci;
    std::vector<nlohmann::ordered_json> layer_ci;
};

bool ends_with(const std::string& s, const char* tail) {
    const std::string t(tail);
    return s.size() > t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

// A computed result (dumps or a state) as a checkpoint.
checkpoint from_result(const std::string& path, files_result r, std::size_t files) {
    checkpoint c;
    c.path = path;
    const mir_result m = aggregate(r.layers);
    c.mir = m.mir;
    c.fid_sum = m.fid_sum;
    for (const auto& l : m.layers) c.layers.emplace_back(l.layer, l.fid);
    if (r.ci) {
        c.ci = interval_json(r.ci->jackknife.mir);
        c.ci["samples"] = files;
        for (const auto& l : m.layers) {
            for (std::size_t i = 0; i < r.layers.size(); ++i) {
                if (r.layers[i].layer == l.layer) c.layer_ci.push_back(interval_json(r.ci->jackknife.fids[i]));
            }
        }
    }
    return c;
}

// The last run of digits in the name (a file's stem, or a directory's name): "checkpoint-2000" → 2000.
std::optional<long long> step_in_name(const std::string& path) {
    const std::filesystem::path p(path), base = p.has_filename() ? p : p.parent_path();  // "dir/" names dir
    const std::string name = std::filesystem::is_directory(p) ? base.filename().string() : base.stem().string();
    std::size_t end = name.size();
    while (end > 0 && !std::isdigit(static_cast<unsigned char>(name[end - 1]))) --end;
    std::size_t begin = end;
    while (begin > 0 && std::isdigit(static_cast<unsigned char>(name[begin - 1]))) --begin;
    if (begin == end || end - begin > 15) return std::nullopt;
    return std::stoll(name.substr(begin, end - begin));
}

// A result JSON of mir compute or mir merge (schema_version 1); with --ci (level > 0) one computed
// with --ci at that level.
checkpoint from_json(const std::string& path, double level) {
    std::ifstream in(path);
    if (!in) throw file_error(path + ": cannot read");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw file_error(path + ": not JSON (" + std::string(e.what()) + ")");
    }
    const auto bad = [&](const std::string& what) {
        throw file_error(path + ": not a mir result (" + what + "; mir compute --json writes them)");
    };
    if (!j.is_object() || j.value("schema_version", 0) != 1) bad("no schema_version 1");
    if (!j.contains("mir") || !j["mir"].is_number() || !j.contains("fid_sum") || !j["fid_sum"].is_number()) {
        bad("no number 'mir' or 'fid_sum'");
    }
    if (!j.contains("layers") || !j["layers"].is_array() || j["layers"].empty()) bad("no 'layers'");
    checkpoint c;
    c.path = path;
    c.mir = j["mir"].get<double>();
    c.fid_sum = j["fid_sum"].get<double>();
    for (const auto& l : j["layers"]) {
        if (!l.is_object() || !l.contains("layer") || !l["layer"].is_number_integer() || !l.contains("fid") ||
            !l["fid"].is_number()) {
            bad("a layer without an integer 'layer' and a number 'fid'");
        }
        c.layers.emplace_back(l["layer"].get<int>(), l["fid"].get<double>());
    }
    if (!std::isfinite(c.mir)) bad("'mir' is not finite");
    if (level > 0.0) {
        const auto interval = [&](const nlohmann::json& owner, const std::string& what) {
            if (!owner.contains("ci")) {
                throw file_error(path + ": " + what + " has no interval (compute it with mir compute --ci " +
                                 g(level, "%g") + " --json, or give track its dumps)");
            }
            const nlohmann::json& ci = owner["ci"];
            if (!ci.is_object() || !ci.contains("lower") || !ci["lower"].is_number() || !ci.contains("upper") ||
                !ci["upper"].is_number() || !ci.contains("level") || !ci["level"].is_number()) {
                bad(what + "'s 'ci' without numbers 'level', 'lower' and 'upper'");
            }
            if (std::abs(ci["level"].get<double>() - level) > 1e-12) {
                throw file_error(path + ": " + what + "'s interval is at level " + g(ci["level"].get<double>(), "%g") +
                                 ", not the --ci " + g(level, "%g") + " asked for");
            }
            return nlohmann::ordered_json::parse(ci.dump());
        };
        c.ci = interval(j, "the result");
        for (const auto& l : j["layers"]) c.layer_ci.push_back(interval(l, "layer " + l["layer"].dump()));
    }
    return c;
}

// Dumps of one checkpoint, computed as `mir compute` would (with --ci, as `mir compute --ci`).
checkpoint from_dumps(const std::string& path, const compute_options& o) {
    const dump_summary d = dump_source::open(std::vector<std::filesystem::path>{path});
    const std::vector<int> layers = parse_layers(o.layers, d.num_indices());
    const int groups = o.ci > 0.0 ? jackknife_groups(o, d.files().size()) : 0;
    return from_result(path, compute_files(d, layers, o, groups), d.files().size());
}

// A state whose passes are done, computed as `mir merge STATE` would.
checkpoint from_state(const std::string& path, const compute_options& o) {
    state_result r = compute_done_state(path, o);
    return from_result(path, std::move(r.computed), r.origin.files);
}

struct saturation {
    std::size_t index = 0;
    double improvement = 0.0;  // the most MIR fell within the window after it
};

// The first checkpoint after which MIR falls by less than `threshold` within the next `window` ones.
std::optional<saturation> find_saturation(const std::vector<checkpoint>& c, double threshold, int window) {
    const auto w = static_cast<std::size_t>(window);
    for (std::size_t i = 0; i + w < c.size(); ++i) {
        double best = c[i + 1].mir;
        for (std::size_t k = i + 1; k <= i + w; ++k) best = std::min(best, c[k].mir);
        const double fall = c[i].mir - best;
        if (fall < threshold) return saturation{i, fall};
    }
    return std::nullopt;
}

int run_track(track_options& o) {
    if (o.inputs.empty()) throw usage_error("mir track needs the checkpoints' results, states or dumps");
    if (o.compute.ci_groups != 0 && o.compute.ci == 0.0) throw usage_error("--ci-groups needs --ci LEVEL");
    if (!o.steps.empty() && o.steps.size() != o.inputs.size()) {
        throw usage_error("--steps has " + std::to_string(o.steps.size()) + " values for " +
                          std::to_string(o.inputs.size()) + " checkpoints");
    }
    if (!(o.threshold >= 0.0) || !std::isfinite(o.threshold))
        throw usage_error("--threshold must be a finite number >= 0");
    output_set out;
    out.declare("--json", o.json);
    out.declare("--plot", o.plot);
    out.declare("--heatmap", o.heatmap);
    out.check(std::vector<std::filesystem::path>(o.inputs.begin(), o.inputs.end()));

    std::vector<checkpoint> cs;
    for (std::size_t i = 0; i < o.inputs.size(); ++i) {
        const std::string& p = o.inputs[i];
        checkpoint c = ends_with(p, ".json") ? from_json(p, o.compute.ci)
                       : ends_with(p, ".safetensors") && std::filesystem::is_regular_file(p) && is_state_file(p)
                           ? from_state(p, o.compute)
                           : from_dumps(p, o.compute);
        if (!o.steps.empty()) {
            c.step = o.steps[i];
        } else if (const auto s = step_in_name(p)) {
            c.step = *s;
        } else {
            throw usage_error(p + ": no step in its name (like checkpoint-2000); give --steps");
        }
        cs.push_back(std::move(c));
    }
    std::stable_sort(cs.begin(), cs.end(), [](const checkpoint& a, const checkpoint& b) { return a.step < b.step; });
    for (std::size_t i = 1; i < cs.size(); ++i) {
        if (cs[i].step == cs[i - 1].step) {
            throw usage_error(cs[i - 1].path + " and " + cs[i].path + " have the same step " +
                              std::to_string(cs[i].step));
        }
    }
    const std::optional<saturation> sat = find_saturation(cs, o.threshold, o.window);

    const auto sat_words = [&] {
        if (sat) {
            return "saturated at step " + std::to_string(cs[sat->index].step) + " (MIR " +
                   g(cs[sat->index].mir, "%.4f") + "): within the next " + std::to_string(o.window) +
                   " checkpoint(s) MIR falls by " + g(sat->improvement, "%.3g") + ", less than " +
                   g(o.threshold, "%.3g");
        }
        if (cs.size() <= static_cast<std::size_t>(o.window)) {
            return "saturation: not enough checkpoints for a window of " + std::to_string(o.window);
        }
        return std::string("not saturated: MIR still falls by ") + g(o.threshold, "%.3g") +
               " or more within every window of " + std::to_string(o.window) + " checkpoint(s)";
    };
    if (!o.json.empty()) {
        nlohmann::ordered_json j;
        j["schema_version"] = result_schema_version;
        j["threshold"] = o.threshold;
        j["window"] = o.window;
        j["checkpoints"] = nlohmann::ordered_json::array();
        for (const auto& c : cs) {
            nlohmann::ordered_json e;
            e["step"] = c.step;
            e["path"] = c.path;
            e["mir"] = c.mir;
            e["fid_sum"] = c.fid_sum;
            if (!c.ci.is_null()) e["ci"] = c.ci;
            e["layers"] = nlohmann::ordered_json::array();
            for (std::size_t k = 0; k < c.layers.size(); ++k) {
                nlohmann::ordered_json l{{"layer", c.layers[k].first}, {"fid", c.layers[k].second}};
                if (k < c.layer_ci.size()) l["ci"] = c.layer_ci[k];
                e["layers"].push_back(std::move(l));
            }
            j["checkpoints"].push_back(std::move(e));
        }
        if (sat) {
            j["saturation"] = {{"step", cs[sat->index].step},
                               {"index", sat->index},
                               {"mir", cs[sat->index].mir},
                               {"improvement", sat->improvement}};
        } else {
            j["saturation"] = nullptr;
        }
        append_provenance(j, o.sub, nullptr, nullptr);
        out.put(o.json, json_text(j), "the JSON output");
    }
    if (!o.plot.empty()) {
        plot_spec spec;
        spec.title = "MIR across checkpoints";
        spec.subtitle = sat_words();
        spec.x_label = "step";
        spec.y_label = "MIR (lower: better aligned)";
        spec.log_x = spec.log_y = false;
        plot_series m{"MIR", {}, {}, true}, s{"saturation", {}, {}, false};
        for (const auto& c : cs) {
            m.x.push_back(static_cast<double>(c.step));
            m.y.push_back(c.mir);
        }
        if (sat) {
            s.x.push_back(static_cast<double>(cs[sat->index].step));
            s.y.push_back(cs[sat->index].mir);
        }
        std::vector<plot_series> series{m};
        if (o.compute.ci > 0.0) {  // the interval's ends, as lines either side of MIR
            const std::string pct = g(100.0 * o.compute.ci, "%g") + "% CI ";
            plot_series lo{pct + "lower", {}, {}, true}, hi{pct + "upper", {}, {}, true};
            for (const auto& c : cs) {
                lo.x.push_back(static_cast<double>(c.step));
                hi.x.push_back(static_cast<double>(c.step));
                lo.y.push_back(c.ci["lower"].get<double>());
                hi.y.push_back(c.ci["upper"].get<double>());
            }
            series.push_back(std::move(lo));
            series.push_back(std::move(hi));
        }
        if (sat) series.push_back(s);
        out.put(o.plot, scatter_svg(spec, series), "the plot");
    }
    if (!o.heatmap.empty()) {
        heatmap_spec h;
        h.title = "Per-layer FID across checkpoints";
        h.subtitle = std::to_string(cs.size()) + " checkpoints; colour: FID (log scale)";
        h.x_label = "step";
        h.y_label = "layer (hidden-state index)";
        h.value_label = "FID";
        std::vector<int> layers;
        for (const auto& c : cs) {
            for (const auto& l : c.layers) {
                if (std::find(layers.begin(), layers.end(), l.first) == layers.end()) layers.push_back(l.first);
            }
        }
        std::sort(layers.begin(), layers.end());
        for (const auto& c : cs) h.x_labels.push_back(std::to_string(c.step));
        for (int l : layers) {
            h.y_labels.push_back(std::to_string(l));
            std::vector<double> row;
            for (const auto& c : cs) {
                double v = NAN;  // a checkpoint without this layer: a grey cell
                for (const auto& [layer, fid] : c.layers) {
                    if (layer == l) v = fid;
                }
                row.push_back(v);
            }
            h.values.push_back(std::move(row));
        }
        out.put(o.heatmap, heatmap_svg(h), "the heat map");
    }
    out.commit();
    if (o.json != "-" && o.plot != "-" && o.heatmap != "-") {
        const bool csv = o.format == "csv", md = o.format == "markdown", ci = o.compute.ci > 0.0;
        if (csv) std::printf("step,mir,change,%spath\n", ci ? "ci_lo,ci_hi," : "");
        if (md) {
            std::printf("| step | MIR | change | %spath |\n|---|---|---|%s---|\n", ci ? "CI | " : "", ci ? "---|" : "");
        }
        if (!csv && !md) {
            std::printf("%12s %10s %10s  %s%s\n", "step", "MIR", "change", ci ? "     ci_lo      ci_hi  " : "", "path");
        }
        for (std::size_t i = 0; i < cs.size(); ++i) {
            const std::string change = i == 0 ? "" : g(cs[i].mir - cs[i - 1].mir, csv ? "%.17g" : "%+.4f");
            std::string band;
            if (ci) {
                const double lo = cs[i].ci["lower"].get<double>(), hi = cs[i].ci["upper"].get<double>();
                band = csv  ? g(lo, "%.17g") + "," + g(hi, "%.17g") + ","
                       : md ? "[" + g(lo, "%.4f") + ", " + g(hi, "%.4f") + "] | "
                            : g(lo, "%10.4f") + " " + g(hi, "%10.4f") + "  ";
            }
            if (csv) {
                std::printf("%lld,%.17g,%s,%s%s\n", cs[i].step, cs[i].mir, change.c_str(), band.c_str(),
                            cs[i].path.c_str());
            } else if (md) {
                std::printf("| %lld | %.4f | %s | %s%s |\n", cs[i].step, cs[i].mir, change.c_str(), band.c_str(),
                            cs[i].path.c_str());
            } else {
                std::printf("%12lld %10.4f %10s  %s%s\n", cs[i].step, cs[i].mir, change.empty() ? "-" : change.c_str(),
                            band.c_str(), cs[i].path.c_str());
            }
        }
        std::printf("%s%s\n", csv ? "# " : "", sat_words().c_str());
    }
    return 0;
}

}  // namespace

command register_track(CLI::App& app) {
    struct state {
        track_options o;
        std::string policy_name = std::string(to_string(outlier_policy::replace_median));
        std::string sqrt_name = std::string(to_string(sqrt_method::exact));
        std::string precision_name = std::string(to_string(precision::fp64));
    };
    const auto s = std::make_shared<state>();
    auto* c = app.add_subcommand("track",
                                 "MIR across checkpoints (results of mir compute --json, states or dumps) and where it "
                                 "saturates; table, JSON and plots");
    c->add_option("checkpoints", s->o.inputs,
                  "per checkpoint a result JSON (mir compute/merge --json), a state whose passes are done (mir "
                  "merge --save-state) or its dumps (file or directory)")
        ->required();
    c->add_option("--steps", s->o.steps,
                  "the checkpoints' steps, in the order given (default: the last number in "
                  "each name, e.g. checkpoint-2000)")
        ->delimiter(',');
    c->add_option("--threshold", s->o.threshold,
                  "saturated once MIR falls by less than this within the next --window checkpoints (default 0.01)");
    c->add_option("--window", s->o.window,
                  "checkpoints after a candidate that must not improve by --threshold (default 3)")
        ->check(CLI::Range(1, 1000));
    c->add_option("--json", s->o.json, "write the series and the saturation as JSON to FILE (- for stdout)");
    c->add_option("--plot", s->o.plot, "write an SVG of MIR against step to FILE (- for stdout)");
    c->add_option("--heatmap", s->o.heatmap, "write an SVG heat map of per-layer FID against step to FILE");
    c->add_option("--format", s->o.format, "the table on stdout: table (default), csv or markdown")
        ->check(CLI::IsMember({"table", "csv", "markdown"}));
    c->add_option("--layers", s->o.compute.layers, "for dump checkpoints: as mir compute --layers");
    add_outliers_option(*c, s->policy_name);
    add_sqrt_options(*c, s->sqrt_name, s->o.compute.sqrt);
    add_precision_option(*c, s->precision_name);
    add_threads_option(*c, s->o.compute.threads);
    c->add_option("--ci", s->o.compute.ci,
                  "also each checkpoint's LEVEL confidence interval (e.g. 0.95): dumps and states computed as with "
                  "mir compute/merge --ci, result JSONs must carry one (docs/uncertainty.md)")
        ->check(finite_between(0.0, 1.0, "LEVEL"));
    c->add_option("--ci-groups", s->o.compute.ci_groups,
                  "with --ci, for dump checkpoints: as mir compute --ci-groups (default: min(files, 10))")
        ->check(CLI::Range(2, layer_passes<double>::max_groups));
    s->o.sub = c;
    return {c, [s] {
                try {
                    s->o.compute.policy = parse_outlier_policy(s->policy_name);
                    s->o.compute.sqrt.method = parse_compute_sqrt_method(s->sqrt_name);
                    s->o.compute.precision = parse_precision(s->precision_name);
                } catch (const argument_error& e) {
                    throw usage_error(e.message());
                }
                return run_track(s->o);
            }};
}

}  // namespace mir::tool
