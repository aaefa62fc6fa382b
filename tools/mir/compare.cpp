// `mir compare A B`: whether two models' MIRs on the same samples differ
// beyond the noise of those samples — the paired grouped jackknife of
// MIR_A − MIR_B (and of each layer's FID difference): the samples dealt into
// the same G groups on both sides, so the variation the two share cancels
// (docs/uncertainty.md, "Comparing two models").
#include <mir/metric/uncertainty.hpp>
#include <mir/mir.hpp>
#include <mir/source/dump.hpp>
#include <mir/source/saved_state.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli_options.hpp"
#include "command.hpp"
#include "compute.hpp"
#include "layers.hpp"
#include "merge.hpp"
#include "output.hpp"
#include "provenance.hpp"
#include "usage.hpp"

namespace mir::tool {

namespace {

struct compare_options {
    std::string a, b;
    std::string json, format = "table";
    compute_options compute;  // for dump inputs: --layers, --outliers, --sqrt, --precision, --threads, --ci...
};

// One side: MIR and every layer's FID with their leave-one-group-out values.
struct side {
    std::string path;
    std::size_t samples = 0;
    jackknife_interval mir;
    std::vector<int> layers;
    std::vector<jackknife_interval> fids;
};

bool ends_with(const std::string& s, const char* tail) {
    const std::string t(tail);
    return s.size() > t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

side from_computed(const std::string& path, const files_result& r, std::size_t samples) {
    side s;
    s.path = path;
    s.samples = samples;
    s.mir = r.ci->jackknife.mir;
    s.fids = r.ci->jackknife.fids;
    for (const auto& l : r.layers) s.layers.push_back(l.layer);
    return s;
}

// A result JSON of mir compute/merge --ci: its values and leave-outs (the interval is recomputed at --ci's level).
side from_json(const std::string& path, double level) {
    std::ifstream in(path);
    if (!in) throw file_error(path + ": cannot read");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw file_error(path + ": not JSON (" + std::string(e.what()) + ")");
    }
    const auto bad = [&](const std::string& what) -> void {
        throw file_error(path + ": " + what + " (mir compute --ci LEVEL --json writes what mir compare reads)");
    };
    if (!j.is_object() || j.value("schema_version", 0) != 1 || !j.contains("mir") || !j["mir"].is_number() ||
        !j.contains("layers") || !j["layers"].is_array() || j["layers"].empty()) {
        bad("not a mir result (schema_version 1 with 'mir' and 'layers')");
    }
    const auto interval = [&](const nlohmann::json& owner, const char* value, const std::string& what) {
        if (!owner.contains("ci") || !owner["ci"].is_object())
            bad(what + " has no interval: it was computed without --ci");
        const nlohmann::json& ci = owner["ci"];
        if (!ci.contains("leave_out") || !ci["leave_out"].is_array() || ci["leave_out"].size() < 2 ||
            !owner.contains(value) || !owner[value].is_number()) {
            bad(what + "'s 'ci' has no 'leave_out' values");
        }
        std::vector<double> lo;
        for (const auto& v : ci["leave_out"]) {
            if (!v.is_number()) bad(what + "'s 'leave_out' holds a value that is not a number");
            lo.push_back(v.get<double>());
        }
        try {
            return grouped_jackknife(owner[value].get<double>(), lo, level);
        } catch (const error& e) {
            throw file_error(path + ": " + what + ": " + e.message());
        }
    };
    side s;
    s.path = path;
    s.mir = interval(j, "mir", "the result");
    if (!j["ci"].contains("samples") || !j["ci"]["samples"].is_number_unsigned())
        bad("the result's 'ci' has no 'samples'");
    s.samples = j["ci"]["samples"].get<std::size_t>();
    for (const auto& l : j["layers"]) {
        if (!l.is_object() || !l.contains("layer") || !l["layer"].is_number_integer()) bad("a layer without 'layer'");
        s.layers.push_back(l["layer"].get<int>());
        s.fids.push_back(interval(l, "fid", "layer " + l["layer"].dump()));
    }
    return s;
}

std::string list(const std::vector<int>& v) {
    std::string t;
    for (int k : v) {
        if (!t.empty()) t += ',';
        t += std::to_string(k);
    }
    return t;
}

nlohmann::ordered_json difference_json(const jackknife_difference& d, double level) {
    nlohmann::ordered_json j = interval_json(d.difference);
    j["estimate"] = d.difference.estimate;
    j["t_statistic"] = d.t_statistic;
    j["p_value"] = d.p_value;
    j["significant"] = d.p_value < 1.0 - level;
    return j;
}

std::string f(double v, const char* fmt) {
    char b[48];
    std::snprintf(b, sizeof b, fmt, v);
    return b;
}

int run_compare(compare_options& o) {
    compute_options& c = o.compute;
    if (c.ci == 0.0) c.ci = 0.95;
    output_set out;
    out.declare("--json", o.json);
    out.check({std::filesystem::path(o.a), std::filesystem::path(o.b)});

    // Results and states come with their groups; dumps are dealt into the same groups (or --ci-groups).
    const auto kind = [](const std::string& p) {
        if (ends_with(p, ".json")) return 'j';
        if (ends_with(p, ".safetensors") && std::filesystem::is_regular_file(p) && is_state_file(p)) return 's';
        return 'd';
    };
    std::vector<std::optional<dump_summary>> dumps(2);
    const std::string paths[2] = {o.a, o.b};
    for (int i = 0; i < 2; ++i) {
        if (kind(paths[i]) == 'd') dumps[i] = dump_source::open(std::vector<std::filesystem::path>{paths[i]});
    }
    if (dumps[0] && dumps[1] && dumps[0]->files().size() != dumps[1]->files().size()) {
        throw usage_error(o.a + " holds " + std::to_string(dumps[0]->files().size()) + " files, " + o.b + " " +
                          std::to_string(dumps[1]->files().size()) +
                          ": a paired comparison needs the same samples on both sides, in the same order");
    }
    side s[2];
    for (int i = 0; i < 2; ++i) {
        if (kind(paths[i]) == 'j') {
            s[i] = from_json(paths[i], c.ci);
        } else if (kind(paths[i]) == 's') {
            state_result r = compute_done_state(paths[i], c);
            s[i] = from_computed(paths[i], r.computed, r.origin.files);
        }
    }
    for (int i = 0; i < 2; ++i) {
        if (!dumps[i]) continue;
        const dump_summary& d = *dumps[i];
        compute_options ci = c;
        if (ci.ci_groups == 0 && !dumps[1 - i]) ci.ci_groups = s[1 - i].mir.groups;
        const int groups = jackknife_groups(ci, d.files().size());
        s[i] = from_computed(paths[i], compute_files(d, parse_layers(c.layers, d.num_indices()), ci, groups),
                             d.files().size());
    }
    if (s[0].samples != s[1].samples) {
        throw usage_error(o.a + " comes from " + std::to_string(s[0].samples) + " samples, " + o.b + " from " +
                          std::to_string(s[1].samples) +
                          ": a paired comparison needs the same samples on both sides, in the same order");
    }
    if (s[0].mir.groups != s[1].mir.groups) {
        throw usage_error(o.a + " was dealt into " + std::to_string(s[0].mir.groups) + " jackknife groups, " + o.b +
                          " into " + std::to_string(s[1].mir.groups) +
                          ": compute both with the same --ci-groups (dumps given here get the same groups)");
    }
    if (s[0].layers != s[1].layers) {
        throw usage_error(o.a + " has layers " + list(s[0].layers) + ", " + o.b + " " + list(s[1].layers) +
                          ": compare the same layers (--layers)");
    }
    const jackknife_difference mir_diff = paired_jackknife(s[0].mir, s[1].mir);
    std::vector<jackknife_difference> layer_diff;
    for (std::size_t k = 0; k < s[0].fids.size(); ++k)
        layer_diff.push_back(paired_jackknife(s[0].fids[k], s[1].fids[k]));

    const double level = c.ci;
    const jackknife_interval& d = mir_diff.difference;
    const bool significant = mir_diff.p_value < 1.0 - level;
    const std::string pct = f(100.0 * level, "%g") + "%";
    const std::string verdict = significant ? std::string(d.bias_corrected() < 0 ? "A" : "B") +
                                                  "'s MIR is lower beyond the noise of the samples (p < " +
                                                  f(1.0 - level, "%g") + ")"
                                            : "the difference is within the noise of the samples (p >= " +
                                                  f(1.0 - level, "%g") + ")";
    if (!o.json.empty()) {
        nlohmann::ordered_json j;
        j["schema_version"] = result_schema_version;
        j["level"] = level;
        j["method"] = "paired-grouped-jackknife";
        j["groups"] = d.groups;
        j["samples"] = s[0].samples;
        for (int i = 0; i < 2; ++i) {
            j[i == 0 ? "a" : "b"] = {{"path", s[i].path}, {"mir", s[i].mir.estimate}, {"ci", interval_json(s[i].mir)}};
        }
        j["difference"] = difference_json(mir_diff, level);
        j["layers"] = nlohmann::ordered_json::array();
        for (std::size_t k = 0; k < layer_diff.size(); ++k) {
            j["layers"].push_back({{"layer", s[0].layers[k]},
                                   {"fid_a", s[0].fids[k].estimate},
                                   {"fid_b", s[1].fids[k].estimate},
                                   {"difference", difference_json(layer_diff[k], level)}});
        }
        append_provenance(j, o.compute.sub, nullptr, nullptr);
        out.put(o.json, json_text(j), "the JSON output");
    }
    out.commit();
    if (o.json == "-") return 0;
    const bool csv = o.format == "csv", md = o.format == "markdown";
    if (csv) {
        std::printf("layer,fid_a,fid_b,a_minus_b,diff_lo,diff_hi,p_value\n");
    } else if (md) {
        std::printf("| layer | FID A | FID B | A − B | %s CI | p |\n|---|---|---|---|---|---|\n", pct.c_str());
    } else {
        std::printf("%6s %13s %13s %13s %13s %13s %9s\n", "layer", "fid_a", "fid_b", "a_minus_b", "diff_lo", "diff_hi",
                    "p");
    }
    for (std::size_t k = 0; k < layer_diff.size(); ++k) {
        const jackknife_interval& l = layer_diff[k].difference;
        if (csv) {
            std::printf("%d,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g\n", s[0].layers[k], s[0].fids[k].estimate,
                        s[1].fids[k].estimate, l.estimate, l.lower, l.upper, layer_diff[k].p_value);
        } else if (md) {
            std::printf("| %d | %.6g | %.6g | %+.6g | [%.6g, %.6g] | %.3g |\n", s[0].layers[k], s[0].fids[k].estimate,
                        s[1].fids[k].estimate, l.estimate, l.lower, l.upper, layer_diff[k].p_value);
        } else {
            std::printf("%6d %13.6g %13.6g %+13.6g %13.6g %13.6g %9.3g\n", s[0].layers[k], s[0].fids[k].estimate,
                        s[1].fids[k].estimate, l.estimate, l.lower, l.upper, layer_diff[k].p_value);
        }
    }
    std::printf("%sMIR A = %.6f (%s), MIR B = %.6f (%s)\n", csv ? "# " : "", s[0].mir.estimate, s[0].path.c_str(),
                s[1].mir.estimate, s[1].path.c_str());
    std::printf(
        "%sA - B = %+.6f (%s CI [%.6f, %.6f]; std. error %.4g; t = %.3g, p = %.3g; paired grouped jackknife, "
        "%zu samples in %d groups): %s\n",
        csv ? "# " : "", d.estimate, pct.c_str(), d.lower, d.upper, d.std_error, mir_diff.t_statistic, mir_diff.p_value,
        s[0].samples, d.groups, verdict.c_str());
    return 0;
}

}  // namespace

command register_compare(CLI::App& app) {
    struct state {
        compare_options o;
        std::string policy_name = std::string(to_string(outlier_policy::replace_median));
        std::string sqrt_name = std::string(to_string(sqrt_method::exact));
        std::string precision_name = std::string(to_string(precision::fp64));
    };
    const auto s = std::make_shared<state>();
    auto* c = app.add_subcommand("compare",
                                 "whether two models' MIRs on the same samples differ beyond the samples' noise "
                                 "(paired grouped jackknife; docs/uncertainty.md)");
    c->add_option("A", s->o.a,
                  "the first model: its dumps (file or directory), a state whose passes are done (kept with "
                  "--ci-groups) or a result JSON of mir compute --ci")
        ->required();
    c->add_option("B", s->o.b, "the second model, on the same samples in the same order, in any of those forms")
        ->required();
    c->add_option("--ci", s->o.compute.ci, "the confidence level of the intervals and the test (default 0.95)")
        ->check(finite_between(0.0, 1.0, "LEVEL"));
    c->add_option("--ci-groups", s->o.compute.ci_groups,
                  "for dumps: deal the files into G groups, file i into group i mod G (default: min(files, 10))")
        ->check(CLI::Range(2, layer_passes<double>::max_groups));
    c->add_option("--layers", s->o.compute.layers, "for dumps: as mir compute --layers");
    add_outliers_option(*c, s->policy_name);
    add_sqrt_options(*c, s->sqrt_name, s->o.compute.sqrt);
    add_precision_option(*c, s->precision_name);
    add_threads_option(*c, s->o.compute.threads);
    c->add_option("--json", s->o.json, "write the comparison as JSON to FILE (- for stdout, nothing else printed)");
    c->add_option("--format", s->o.format, "the table on stdout: table (default), csv or markdown")
        ->check(CLI::IsMember({"table", "csv", "markdown"}));
    s->o.compute.sub = c;
    return {c, [s] {
                try {
                    s->o.compute.policy = parse_outlier_policy(s->policy_name);
                    s->o.compute.sqrt.method = parse_compute_sqrt_method(s->sqrt_name);
                    s->o.compute.precision = parse_precision(s->precision_name);
                } catch (const argument_error& e) {
                    throw usage_error(e.message());
                }
                return run_compare(s->o);
            }};
}

}  // namespace mir::tool
