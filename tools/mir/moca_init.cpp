#include "moca_init.hpp"

#include <mir/source/dump.hpp>
#include <mir/mir.hpp>
#include <mir/moca/checkpoint.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <numeric>

#include "cli_options.hpp"
#include "command.hpp"
#include "compute.hpp"
#include "layer_runner.hpp"
#include "output.hpp"
#include "progress_display.hpp"
#include "provenance.hpp"

namespace mir::tool {

namespace {

constexpr const char* effect_note =
    "FID after is the immediate per-layer effect of applying (u, v) to these same hidden states, computed in "
    "closed form from their statistics (outlier set held fixed). It is not a prediction of the FID or MIR of a "
    "model retrained with MoCa: there every later layer sees calibrated inputs.";

struct layer_row {
    int layer = 0;  // decoder layer i
    moca::moment_match_result match;
    double fid_after_stored = 0.0;  // with (u, v) rounded to the checkpoint dtype
    index_t vision_outliers = 0, text_outliers = 0;
    double wall_s = 0.0;  // of this layer's passes and fit
};

// (u, v) as the checkpoint stores them (numerical_error when beyond the dtype's range).
moca::layer_calibration rounded(const moca::layer_calibration& p, io::file_dtype dt, int layer) {
    moca::layer_calibration r = p;
    r.scale = moca::stored_values(p.scale, dt, layer, true);
    r.shift = moca::stored_values(p.shift, dt, layer, false);
    return r;
}

layer_row compute_row(const dump_summary& d, int layer, outlier_policy policy, io::file_dtype dt,
                      const progress_callback& progress) {
    const auto t0 = std::chrono::steady_clock::now();
    const int index = moca::calibration::hidden_state_index(layer);
    const auto replay = [&](auto&& sink) { d.replay_layer(index, sink); };
    const layer_statistics s = compute_layer_statistics_multipass<double>(replay, d.hidden_size(), policy, index,
                                                                          nullptr, progress);
    layer_row r;
    r.layer = layer;
    r.match = moca::moment_match(s);
    r.vision_outliers = s.vision.outliers;
    r.text_outliers = s.text.outliers;
    const moca::layer_calibration stored = rounded(r.match.params, dt, layer);
    r.fid_after_stored = frechet_distance_terms(moca::apply_affine(s.vision.gaussian, stored), s.text.gaussian)
                             .scaled(s.alpha * s.alpha)
                             .value();
    r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
}

double change_percent(double before, double after) { return before != 0.0 ? 100.0 * (after - before) / before : 0.0; }

nlohmann::ordered_json moca_json(const moca_init_options& o, const dump_summary& d, const std::vector<layer_row>& rows,
                                 io::file_dtype dt, double sum_before, double sum_after, const thread_plan& threads) {
    const int k = d.num_indices() - 1;
    nlohmann::ordered_json j;
    j["schema_version"] = result_schema_version;
    j["out"] = o.out;
    j["dtype"] = std::string(io::to_string(dt));
    j["outliers"] = o.policy;
    j["files"] = d.files().size();
    j["hidden_size"] = d.hidden_size();
    j["num_layers"] = k;
    j["fid_sum_before"] = sum_before;
    j["fid_sum_after"] = sum_after;
    j["note"] = effect_note;
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    for (const auto& r : rows) {
        nlohmann::ordered_json e;
        e["layer"] = r.layer;
        e["index"] = r.layer + 1;
        e["fid_before"] = r.match.fid_before();
        e["fid_after"] = r.fid_after_stored;
        e["fid_after_unrounded"] = r.match.fid_after();
        e["small_sd_dims"] = r.match.degenerate_dims;
        e["vision_outliers"] = r.vision_outliers;
        e["text_outliers"] = r.text_outliers;
        e["wall_s"] = r.wall_s;
        layers.push_back(std::move(e));
    }
    j["layers"] = std::move(layers);
    append_provenance(j, o.sub, &threads, &d);  // docs/schema/moca-init.schema.json
    return j;
}

}  // namespace

int run_moca_init(const moca_init_options& o) {
    const outlier_policy policy = parse_outlier_policy(o.policy);
    const io::file_dtype dt = o.dtype == "bf16" ? io::file_dtype::bf16 : o.dtype == "f16" ? io::file_dtype::f16 : io::file_dtype::f32;
    std::vector<std::filesystem::path> inputs(o.inputs.begin(), o.inputs.end());
    if (o.out == "-") throw usage_error("--out -: the checkpoint must go to a file");
    // Every output checked before any work; the checkpoint and the JSON are written together at the end.
    output_set out;
    out.declare("--out", o.out);
    out.declare("--json", o.json);
    std::vector<std::filesystem::path> everything = expand_inputs(inputs);
    everything.insert(everything.end(), inputs.begin(), inputs.end());
    out.check(everything);
    const dump_summary d = dump_source::open(inputs);
    const int k = d.num_indices() - 1;  // decoder layers
    if (k < 1) {
        throw file_error(d.files().front().string() + ": " + std::to_string(d.num_indices()) +
                         " hidden-state index; MoCa needs the outputs of the decoder layers (indices 1..K)");
    }

    std::vector<layer_row> rows(static_cast<std::size_t>(k));
    std::vector<int> decoder_layers(static_cast<std::size_t>(k));
    std::iota(decoder_layers.begin(), decoder_layers.end(), 0);
    const thread_plan threads = plan_and_apply_threads(o.threads, decoder_layers.size(), d.hidden_size());
    std::vector<int> indices;  // what the progress shows: hidden-state index i+1 for decoder layer i
    for (int l : decoder_layers) indices.push_back(moca::calibration::hidden_state_index(l));
    progress_display display(resolve_progress_mode(o.progress, o.quiet), progress_work_of(d, indices), o.progress);
    run_layers(decoder_layers, threads.layer_workers, [&](std::size_t i) {
        rows[i] = compute_row(d, decoder_layers[i], policy, dt, display.callback(i));
        display.layer_done(i);
    });
    display.finish();

    moca::calibration c;
    for (const auto& r : rows) c.layers.push_back(r.match.params);
    const std::string source = std::to_string(d.files().size()) + " dump file(s), outliers " + o.policy;
    out.put_file(
        o.out,
        [&](const std::filesystem::path& p) {
            moca::save_checkpoint(p, c, dt, {{"format", "pt"}, {"mir_moca_init", "moment matching from " + source}});
        },
        "the checkpoint");

    double sum_before = 0.0, sum_after = 0.0;
    for (const auto& r : rows) {
        sum_before += r.match.fid_before();
        sum_after += r.fid_after_stored;
    }
    const bool json_stdout = o.json == "-";
    if (!o.json.empty())
        out.put(o.json, json_text(moca_json(o, d, rows, dt, sum_before, sum_after, threads)), "the JSON output");
    out.commit();
    if (!json_stdout) {
        std::printf("moca-init: moment matching from %zu file(s), hidden size %td, K = %d decoder layers; %s outliers\n",
                    d.files().size(), d.hidden_size(), k, o.policy.c_str());
        std::printf("decoder layer i is set from hidden-state index i+1; index %d (the last layer's) is after the model's\n"
                    "final norm, so layer %d's values are approximate.\n",
                    k, k - 1);
        std::printf("%5s %5s %13s %13s %9s %9s %8s %8s\n", "layer", "index", "fid_before", "fid_after", "change", "small_sd",
                    "vis_out", "txt_out");
        for (const auto& r : rows) {
            std::printf("%5d %5d %13.6g %13.6g %8.2f%% %9td %8td %8td\n", r.layer, r.layer + 1, r.match.fid_before(),
                        r.fid_after_stored, change_percent(r.match.fid_before(), r.fid_after_stored), r.match.degenerate_dims,
                        r.vision_outliers, r.text_outliers);
        }
        std::printf("sum of per-layer FID: before %.6g, after %.6g (%.2f%%)\n", sum_before, sum_after,
                    change_percent(sum_before, sum_after));
        std::printf("note: %s\n", effect_note);
        std::printf("wrote %s: %d x 2 tensors model.layers.{i}.modality_layernorm.scale|shift [%td], %s\n", o.out.c_str(),
                    k, d.hidden_size(), std::string(io::to_string(dt)).c_str());
    }
    return 0;
}

command register_moca_init(CLI::App& app) {
    const auto o = std::make_shared<moca_init_options>();
    auto* c = app.add_subcommand(
        "moca-init", "moment-matching MoCa calibration (u, v per decoder layer) from dumps, with FID before/after");
    c->add_option("paths", o->inputs, "dump files, or directories of .safetensors/.npz files")->required();
    c->add_option("--out", o->out, "checkpoint to write (official names model.layers.{i}.modality_layernorm.*)")
        ->required();
    c->add_option("--dtype", o->dtype, "f32 (default), bf16 or f16")->check(CLI::IsMember({"f32", "bf16", "f16"}));
    add_outliers_option(*c, o->policy);
    c->add_option("--json", o->json,
                  "also write the per-layer FIDs as JSON to FILE (- for stdout, nothing else printed)");
    add_threads_option(*c, o->threads);
    c->add_flag("--quiet", o->quiet, "no progress on stderr (unless --progress always|json)");
    add_progress_options(*c, o->progress);
    o->sub = c;
    return {c, [o] { return run_moca_init(*o); }};
}

}  // namespace mir::tool
