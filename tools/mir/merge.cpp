#include "merge.hpp"

#include <mir/mir.hpp>
#include <mir/source/dump.hpp>
#include <mir/source/saved_state.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cli_options.hpp"
#include "layer_runner.hpp"
#include "layers.hpp"
#include "output.hpp"
#include "progress_display.hpp"
#include "provenance.hpp"

namespace mir::tool {

namespace {

bool given(const CLI::App* sub, const char* option) { return sub != nullptr && sub->get_option(option)->count() > 0; }

std::string layers_text(const std::vector<int>& layers) {
    std::string t;
    for (int k : layers) {
        if (!t.empty()) t += ',';
        t += std::to_string(k);  // (appended, not concatenated: GCC 12's -Wrestrict misfires on the latter)
    }
    return t;
}

// "pass 2 of 2" / "pass 1 of 2 (or more)": what a state's pass means to its user.
std::string pass_words(int pass, int expected) {
    return "pass " + std::to_string(pass) + " of " + std::to_string(std::max(pass, expected)) +
           (pass == 1 ? " (the first pass shows whether an exact median needs more)" : "");
}

// The shard's record in its state file: what it read and how, for the merged result's provenance.
nlohmann::json shard_info(const compute_options& o, const dump_source& d, const thread_plan& threads) {
    nlohmann::ordered_json j;
    append_provenance(j, o.sub, &threads, &d);
    return nlohmann::json::parse(j.dump());
}

}  // namespace

int run_shard_pass(const compute_options& o) {
    if (!o.json.empty() || !o.plot.empty()) {
        throw usage_error(
            "--save-state runs one pass of a sharded computation and saves it: no --json or --plot "
            "(mir merge reports the result after the last pass)");
    }
    std::vector<std::filesystem::path> inputs(o.inputs.begin(), o.inputs.end());
    output_set out;
    out.declare("--save-state", o.save_state);
    std::vector<std::filesystem::path> everything = expand_inputs(inputs);
    everything.insert(everything.end(), inputs.begin(), inputs.end());
    if (!o.resume.empty()) everything.emplace_back(o.resume);
    out.check(everything);
    if (o.save_state == "-") throw usage_error("--save-state -: a state goes to a file");

    const dump_summary d = dump_source::open(inputs);
    std::vector<int> layers;
    outlier_policy policy = o.policy;
    mir::precision prec = o.precision;
    std::optional<saved_state_info> resumed;
    if (!o.resume.empty()) {
        resumed = read_state_info(o.resume);
        const saved_state_info& r = *resumed;
        if (r.done) {
            throw usage_error(o.resume + ": its passes are over; `mir merge " + o.resume + "` reports its MIR");
        }
        const auto differs = [&](const char* option, const std::string& mine, const std::string& theirs) {
            if (given(o.sub, option) && mine != theirs) {
                throw usage_error(std::string(option) + " " + mine + " differs from " + o.resume + "'s " + theirs +
                                  " (a resumed pass keeps the state's settings; leave " + option + " out)");
            }
        };
        differs("--outliers", std::string(to_string(o.policy)), std::string(to_string(r.policy)));
        differs("--precision", std::string(to_string(o.precision)), std::string(to_string(r.precision)));
        if (given(o.sub, "--layers") && parse_layers(o.layers, d.num_indices()) != r.layers) {
            throw usage_error("--layers " + o.layers + " differs from the layers of " + o.resume +
                              " (a resumed pass keeps the state's layers; leave --layers out)");
        }
        if (r.hidden_size != d.hidden_size()) {
            throw file_error(d.files().front().string() + ": hidden size " + std::to_string(d.hidden_size()) +
                             ", but " + o.resume + " is a state of hidden size " + std::to_string(r.hidden_size));
        }
        for (int k : r.layers) {
            if (k >= d.num_indices()) {
                throw file_error(d.files().front().string() + ": " + std::to_string(d.num_indices()) +
                                 " hidden-state indices, but " + o.resume + " has a state of index " +
                                 std::to_string(k));
            }
        }
        if (o.ci_groups != 0 && o.ci_groups != r.groups) {
            throw usage_error("--ci-groups " + std::to_string(o.ci_groups) + " differs from " + o.resume + "'s " +
                              std::to_string(r.groups) +
                              " (a resumed pass keeps the state's groups; leave --ci-groups out)");
        }
        layers = r.layers;
        policy = r.policy;
        prec = r.precision;
    } else {
        layers = parse_layers(o.layers, d.num_indices());
    }
    const int groups = resumed ? resumed->groups : o.ci_groups;
    if (o.first_sample >= 0 && groups == 0) {
        throw usage_error("--first-sample numbers the samples for the jackknife's groups: it needs --ci-groups G");
    }
    const thread_plan threads = plan_and_apply_threads(o.threads, layers.size(), d.hidden_size(), groups);
    nlohmann::json info = shard_info(o, d, threads);
    std::vector<std::string> resumed_files;
    if (resumed && resumed->info.contains("inputs") && resumed->info["inputs"].contains("files")) {
        // The files the passes before read, all shards in order: mir merge checks that the shards
        // of this pass are those files again (other files with as many rows would go unnoticed).
        for (const auto& f : resumed->info["inputs"]["files"]) resumed_files.push_back(f.value("path", ""));
        info["resumed_files"] = resumed_files;
    }
    // A grouped state deals sample i of all shards' files to group i mod G: this shard's files begin at
    // `first` (given, or found in the files of the passes before); mir merge checks it.
    std::size_t first = 0;
    if (groups > 0) {
        std::optional<std::size_t> found;
        for (std::size_t at = 0; !found && at + d.files().size() <= resumed_files.size(); ++at) {
            bool same = true;
            for (std::size_t i = 0; same && i < d.files().size(); ++i) {
                same = resumed_files[at + i] == d.files()[i].string();
            }
            if (same) found = at;
        }
        if (o.first_sample >= 0) {
            first = static_cast<std::size_t>(o.first_sample);
            if (found && *found != first) {
                throw usage_error("--first-sample " + std::to_string(first) + ", but " + d.files().front().string() +
                                  " is file " + std::to_string(*found) + " of " + o.resume +
                                  "'s files (leave --first-sample out on a resumed pass)");
            }
        } else if (found) {
            first = *found;
        } else if (resumed) {
            throw usage_error("these files (" + d.files().front().string() + ", ...) are not, in this order, among " +
                              o.resume + "'s files: give each shard the files of its first pass");
        }
        info["first_sample"] = first;
    }
    int pass = 0, expected = 0;
    with_precision(prec, [&]<class Acc>() {
        pass_state_writer<Acc> writer;
        std::mutex mu;
        progress_display display(resolve_progress_mode(o.progress, o.quiet), progress_work_of(d, layers), o.progress);
        run_layers(layers, threads.layer_workers, [&](std::size_t i) {
            layer_passes<Acc> p = resumed ? std::move(load_pass_states<Acc>(o.resume, nullptr, layers[i]).front())
                                          : layer_passes<Acc>(d.hidden_size(), policy, layers[i], groups);
            const auto group_of = [&](std::size_t f) {
                if (groups > 0) p.set_group(static_cast<int>((first + f) % static_cast<std::size_t>(groups)));
            };
            run_pass(
                p, [&](auto&& sink) { d.replay_layer(layers[i], sink, group_of); }, display.callback(i));
            {
                // Packed into the file's layout as soon as the layer is done; the state itself is dropped.
                const std::lock_guard<std::mutex> lock(mu);
                pass = p.pass();
                expected = std::max(expected, p.passes_expected());
                writer.add(layers[i], p);
            }
            display.layer_done(i);
        });
        display.finish();
        out.put_file(
            o.save_state, [&](const std::filesystem::path& p) { writer.write(p, info); }, "the state");
        out.commit();
    });
    if (!o.quiet) {
        std::fprintf(stderr,
                     "mir: %s over %zu file(s), %zu layer(s): this shard's share saved to %s.\n"
                     "     Next: mir merge with every shard's state of this pass, in shard order.\n",
                     pass_words(pass, expected).c_str(), d.files().size(), layers.size(), o.save_state.c_str());
    }
    return 0;
}

namespace {

struct merge_options {
    std::vector<std::string> states;
    std::string save_state;
    compute_options report;  // sqrt, json, plot, format, threads, quiet; policy and precision come from the states
};

// The shards' inputs records (each state's info) as one.
nlohmann::ordered_json inputs_of(const std::vector<saved_state_info>& infos) {
    std::vector<nlohmann::json> in;
    for (const auto& s : infos) in.push_back(s.info.contains("inputs") ? s.info["inputs"] : nlohmann::json::object());
    return combined_inputs(in);
}

}  // namespace

nlohmann::ordered_json combined_inputs(const std::vector<nlohmann::json>& records) {
    nlohmann::ordered_json j;
    index_t samples = 0, vision = 0, text = 0, ignored = 0;
    nlohmann::ordered_json files = nlohmann::ordered_json::array();
    int indices = 0;
    index_t hidden = 0;
    for (const nlohmann::json& in : records) {
        indices = in.value("num_indices", indices);
        hidden = in.value("hidden_size", hidden);
        samples += in.value("samples", index_t{0});
        vision += in.value("vision_rows", index_t{0});
        text += in.value("text_rows", index_t{0});
        ignored += in.value("ignored_rows", index_t{0});
        if (in.contains("files")) {
            for (const auto& f : in["files"]) files.push_back(nlohmann::ordered_json::parse(f.dump()));
        }
    }
    j["num_indices"] = indices;
    j["hidden_size"] = hidden;
    j["samples"] = samples;
    j["vision_rows"] = vision;
    j["text_rows"] = text;
    j["ignored_rows"] = ignored;
    j["files"] = std::move(files);
    return j;
}

state_result compute_done_state(const std::string& path, const compute_options& o) {
    const saved_state_info info = read_state_info(path);
    if (!info.done) {
        throw file_error(path + ": a state of " + pass_words(info.pass, info.passes_expected) +
                         ": merge the shards' states of the last pass first (mir merge ... --save-state FILE)");
    }
    if (o.ci > 0.0 && info.groups == 0) {
        throw usage_error("--ci: " + path +
                          " holds no jackknife groups; compute its shards with --ci-groups G (docs/uncertainty.md)");
    }
    state_result r;
    r.origin.inputs = inputs_of({info});
    r.origin.files = r.origin.inputs["files"].size();
    r.origin.hidden_size = info.hidden_size;
    r.origin.num_indices = r.origin.inputs["num_indices"].get<int>();
    if (o.ci > 0.0 && r.origin.files < static_cast<std::size_t>(info.groups)) {
        throw file_error(path + ": " + std::to_string(r.origin.files) + " file(s) for " + std::to_string(info.groups) +
                         " jackknife groups (every group needs a file)");
    }
    files_result& c = r.computed;
    c.layers.resize(info.layers.size());
    std::vector<layer_jackknife> jackknifes(o.ci > 0.0 ? info.layers.size() : 0);
    c.run.sub = o.sub;
    c.run.layers = info.layers;
    c.run.layer_seconds.assign(info.layers.size(), 0.0);
    c.run.threads = plan_and_apply_threads(o.threads, info.layers.size(), info.hidden_size, info.groups);
    with_precision(info.precision, [&]<class Acc>() {
        run_layers(info.layers, c.run.threads.layer_workers, [&](std::size_t i) {
            const auto t0 = std::chrono::steady_clock::now();
            layer_passes<Acc> p = std::move(load_pass_states<Acc>(path, nullptr, info.layers[i]).front());
            if (o.ci > 0.0) {
                layer_options lo;
                lo.policy = info.policy;
                lo.sqrt = o.sqrt;
                lo.layer = info.layers[i];
                jackknifes[i] = finish_layer_jackknife(p, lo);
                c.layers[i] = jackknifes[i].result;
            } else {
                c.layers[i] = compute_layer(p.finish(), o.sqrt);
            }
            c.run.layer_seconds[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        });
    });
    if (o.ci > 0.0) c.ci = result_uncertainty{jackknife_mir(jackknifes, o.ci)};
    return r;
}

namespace {

int run_merge(merge_options& m) {
    const compute_options& o = m.report;
    if (m.states.empty()) throw usage_error("mir merge needs the state files of the shards");
    output_set out;
    out.declare("--save-state", m.save_state);
    out.declare("--json", o.json);
    out.declare("--plot", o.plot);
    out.check(std::vector<std::filesystem::path>(m.states.begin(), m.states.end()));
    if (m.save_state == "-") throw usage_error("--save-state -: a state goes to a file");

    // What the files say, checked against the first before any array is read.
    std::vector<saved_state_info> infos;
    for (const auto& s : m.states) infos.push_back(read_state_info(s));
    const saved_state_info& first = infos.front();
    for (std::size_t k = 1; k < infos.size(); ++k) {
        const saved_state_info& s = infos[k];
        const auto clash = [&](const std::string& what, const std::string& mine, const std::string& theirs) {
            throw file_error(m.states[k] + ": " + what + " " + mine + ", but " + m.states[0] + " has " + theirs +
                             " (merge the states of one computation and one pass)");
        };
        if (s.precision != first.precision) {
            clash("precision", std::string(to_string(s.precision)), std::string(to_string(first.precision)));
        }
        if (s.policy != first.policy)
            clash("outliers", std::string(to_string(s.policy)), std::string(to_string(first.policy)));
        if (s.hidden_size != first.hidden_size) {
            clash("hidden size", std::to_string(s.hidden_size), std::to_string(first.hidden_size));
        }
        if (s.layers != first.layers) clash("layers", layers_text(s.layers), layers_text(first.layers));
        if (s.done || first.done) {
            throw file_error(m.states[s.done ? k : 0] +
                             ": its passes are over; there is nothing to merge into it "
                             "(`mir merge FILE` alone reports its MIR)");
        }
        if (s.pass != first.pass)
            clash("a state of pass", std::to_string(s.pass), "pass " + std::to_string(first.pass));
        if (s.groups != first.groups) {
            clash("jackknife groups", std::to_string(s.groups), std::to_string(first.groups));
        }
    }
    // Grouped shards deal sample i of all shards' files, in shard order, to group i mod G: shard k's
    // files must begin where the shards before it end (as their --first-sample said).
    std::size_t samples = 0;
    for (std::size_t k = 0; k < infos.size(); ++k) {
        const nlohmann::json& info = infos[k].info;
        if (first.groups > 0 && info.contains("first_sample") && info["first_sample"].get<std::size_t>() != samples) {
            throw file_error(m.states[k] + ": its files begin at sample " + info["first_sample"].dump() + ", but the " +
                             "shards before it hold " + std::to_string(samples) + " file(s): run it with " +
                             "--first-sample " + std::to_string(samples) +
                             " (a grouped state deals sample i of all shards' files, in the order given here, "
                             "to group i mod G)");
        }
        if (info.contains("inputs") && info["inputs"].contains("files")) samples += info["inputs"]["files"].size();
    }
    if (o.ci > 0.0 && first.groups == 0) {
        throw usage_error("--ci: " + m.states.front() +
                          " holds no jackknife groups; compute every shard with --ci-groups G (docs/uncertainty.md)");
    }
    // Resumed shards read, together and in the order given, the files of the passes before.
    if (!first.done && first.info.contains("resumed_files")) {
        std::vector<std::string> now;
        for (const auto& s : infos) {
            if (s.info.contains("inputs") && s.info["inputs"].contains("files")) {
                for (const auto& f : s.info["inputs"]["files"]) now.push_back(f.value("path", ""));
            }
        }
        const auto before = first.info["resumed_files"].get<std::vector<std::string>>();
        if (now != before) {
            std::size_t i = 0;
            while (i < now.size() && i < before.size() && now[i] == before[i]) ++i;
            throw file_error("the shards of pass " + std::to_string(first.pass) + " (" + m.states.front() +
                             ", ...) read " + std::to_string(now.size()) + " file(s), the passes before " +
                             std::to_string(before.size()) + "; the first difference, file " + std::to_string(i + 1) +
                             ": " + (i < now.size() ? now[i] : "(none)") + " instead of " +
                             (i < before.size() ? before[i] : "(none)") +
                             " (every pass reads the same files, the shards given in the same order)");
        }
    }
    const bool finishing = first.done || (first.pass >= 2 && first.pass >= first.passes_expected);
    if (!finishing && m.save_state.empty()) {
        throw usage_error("these are states of " + pass_words(first.pass, first.passes_expected) +
                          "; another pass follows: give --save-state FILE for the merged state, then run "
                          "mir compute SHARD --resume FILE --save-state ... on every shard");
    }
    if (!finishing && (!o.json.empty() || !o.plot.empty() || o.ci > 0.0)) {
        throw usage_error("--json, --plot and --ci report the result, which the last pass's merge gives; this is " +
                          pass_words(first.pass, first.passes_expected));
    }
    if (o.ci > 0.0 && samples < static_cast<std::size_t>(first.groups)) {
        throw file_error(m.states.front() + ", ...: " + std::to_string(samples) + " file(s) for " +
                         std::to_string(first.groups) + " jackknife groups (every group needs a file)");
    }

    const std::vector<int>& layers = first.layers;
    std::vector<layer_result> results(layers.size());
    std::vector<layer_jackknife> jackknifes(o.ci > 0.0 ? layers.size() : 0);
    run_details run;
    run.sub = o.sub;
    run.layers = layers;
    run.layer_seconds.assign(layers.size(), 0.0);
    run.threads = plan_and_apply_threads(o.threads, layers.size(), first.hidden_size, first.groups);
    int next_pass = 0;
    with_precision(first.precision, [&]<class Acc>() {
        pass_state_writer<Acc> w;  // each merged layer packed into it as soon as it is done
        std::mutex mu;
        run_layers(layers, run.threads.layer_workers, [&](std::size_t i) {
            const auto t0 = std::chrono::steady_clock::now();
            layer_passes<Acc> p = std::move(load_pass_states<Acc>(m.states[0], nullptr, layers[i]).front());
            if (!first.done) {
                for (std::size_t k = 1; k < m.states.size(); ++k) {
                    const layer_passes<Acc> other = std::move(
                        load_pass_states<Acc>(m.states[k], nullptr, layers[i]).front());
                    try {
                        p.merge(other);
                    } catch (const argument_error& e) {
                        throw file_error(m.states[k] + ": layer " + std::to_string(layers[i]) + ": " + e.message());
                    }
                }
                p.end_pass();
            }
            if (finishing && !p.done()) {
                throw file_error(m.states[0] + ": layer " + std::to_string(layers[i]) +
                                 ": its passes are not over after this merge, though the state said pass " +
                                 std::to_string(first.pass) + " was the last");
            }
            if (!m.save_state.empty()) {  // saved as it is (before finish() folds the stand-ins in)
                const std::lock_guard<std::mutex> lock(mu);
                next_pass = p.pass();
                w.add(layers[i], p);
            }
            if (finishing && o.ci > 0.0) {
                layer_options lo;
                lo.policy = first.policy;
                lo.sqrt = o.sqrt;
                lo.layer = layers[i];
                jackknifes[i] = finish_layer_jackknife(p, lo);
                results[i] = jackknifes[i].result;
            } else if (finishing) {
                results[i] = compute_layer(p.finish(), o.sqrt);
            }
            run.layer_seconds[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        });
        if (!m.save_state.empty()) {
            nlohmann::json info;
            info["merged_from"] = m.states;
            info["inputs"] = nlohmann::json::parse(inputs_of(infos).dump());
            nlohmann::ordered_json rec;
            append_provenance(rec, o.sub, &run.threads, nullptr);
            info["merge"] = nlohmann::json::parse(rec.dump());
            // Written to its temporary file now (the writer lives in this scope); renamed at commit.
            out.put_file(
                m.save_state, [&](const std::filesystem::path& p) { w.write(p, info); }, "the state", true);
        }
    });
    if (finishing) {
        result_origin origin;
        origin.inputs = inputs_of(infos);
        origin.files = origin.inputs["files"].size();
        origin.hidden_size = first.hidden_size;
        origin.num_indices = origin.inputs["num_indices"].get<int>();
        compute_options r = o;
        r.policy = first.policy;
        r.precision = first.precision;
        std::optional<result_uncertainty> ci;
        if (o.ci > 0.0) ci = result_uncertainty{jackknife_mir(jackknifes, o.ci)};
        report_result(std::move(results), r, origin, run, out, ci ? &*ci : nullptr);
        if (!m.save_state.empty() && !o.quiet) {
            std::fprintf(stderr, "mir: the merged state (all passes done) saved to %s\n", m.save_state.c_str());
        }
        return 0;
    }
    out.commit();
    if (!o.quiet) {
        std::fprintf(stderr,
                     "mir: %zu state(s) of pass %d merged into %s (next: pass %d).\n"
                     "     Next: on every shard, mir compute SHARD --resume %s --save-state SHARD_STATE;\n"
                     "     then mir merge those states in shard order.\n",
                     m.states.size(), first.pass, m.save_state.c_str(), next_pass, m.save_state.c_str());
    }
    return 0;
}

}  // namespace

command register_merge(CLI::App& app) {
    struct state {
        merge_options m;
        std::string sqrt_name = std::string(to_string(sqrt_method::exact));
    };
    const auto s = std::make_shared<state>();
    auto* c = app.add_subcommand("merge",
                                 "merge the shards' states of one pass (mir compute --save-state); after the last "
                                 "pass, the MIR over all shards (docs/merging.md)");
    c->add_option("states", s->m.states, "state files of one pass, one per shard, in shard order")->required();
    c->add_option("--save-state", s->m.save_state,
                  "write the merged state to FILE (needed when another pass follows; after the last, it can be "
                  "reported again with another --sqrt: mir merge FILE)");
    add_sqrt_options(*c, s->sqrt_name, s->m.report.sqrt);
    c->add_option("--json", s->m.report.json, "after the last pass: the result as JSON to FILE (- for stdout)");
    c->add_option("--plot", s->m.report.plot, "after the last pass: an SVG plot of per-layer FID to FILE");
    c->add_option("--format", s->m.report.format,
                  "the per-layer table on stdout: table (default), csv, markdown or none (nothing on stdout)")
        ->check(CLI::IsMember({"table", "csv", "markdown", "none"}));
    c->add_option("--ci", s->m.report.ci,
                  "after the last pass: also a LEVEL confidence interval (e.g. 0.95) for MIR and each layer's FID, "
                  "from the groups the shards kept (mir compute --save-state --ci-groups G; docs/uncertainty.md)")
        ->check(finite_between(0.0, 1.0, "LEVEL"));
    add_threads_option(*c, s->m.report.threads);
    c->add_flag("--quiet", s->m.report.quiet, "no messages on stderr");
    s->m.report.sub = c;
    return {c, [s] {
                try {
                    s->m.report.sqrt.method = parse_compute_sqrt_method(s->sqrt_name);
                } catch (const argument_error& e) {
                    throw usage_error(e.message());
                }
                return run_merge(s->m);
            }};
}

}  // namespace mir::tool
