// tools/mir/compute.hpp — `mir compute`: dump files in, MIR out.
#pragma once

#include <mir/metric/uncertainty.hpp>
#include <mir/mir.hpp>
#include <mir/source/dump_source.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <mir/backend/threads.hpp>

#include <CLI/CLI.hpp>

#include "cli_options.hpp"
#include "progress_display.hpp"

namespace mir::tool {

struct compute_options {
    std::vector<std::string> inputs;
    std::string layers = "default";
    outlier_policy policy = outlier_policy::replace_median;
    sqrt_options sqrt;  // method, tolerance, iteration limit
    mir::precision precision = mir::precision::fp64;
    std::string json;  // "" = none, "-" = stdout
    std::string plot;  // "" = none
    thread_options threads;
    bool quiet = false;
    progress_options progress;      // --progress, --progress-interval
    std::string format = "table";   // the stdout table: table | csv | markdown
    std::string save_state;         // --save-state: run one pass of a sharded computation, save its share
    std::string resume;             // --resume: the merged state that pass starts from
    bool mpi = false;               // --mpi: the files shared among MPI ranks (mpirun -np N mir compute --mpi ...)
    double ci = 0.0;                // --ci LEVEL: a grouped-jackknife interval (0: none; docs/uncertainty.md)
    int ci_groups = 0;              // --ci-groups G: 0 = min(files, 10)
    long long first_sample = -1;    // --first-sample: a grouped shard's first file among all shards' (-1: not given)
    const CLI::App* sub = nullptr;  // the parsed subcommand, for the options record (provenance)
};

/// What a run did besides its result: for the JSON's provenance.
struct run_details {
    const CLI::App* sub = nullptr;
    std::vector<int> layers;            // in the order computed
    std::vector<double> layer_seconds;  // wall time of each
    thread_plan threads;
};

/// What the files hold (opened and checked consistent across files).
using dump_summary = dump_source;

/// Where a result's rows came from, as its table and JSON describe them:
/// the dump files of one run (origin_of), or of the shards a merge combined.
struct result_origin {
    std::size_t files = 0;
    index_t hidden_size = 0;
    int num_indices = 0;
    nlohmann::ordered_json inputs;  // provenance.schema.json#/$defs/inputs
};
result_origin origin_of(const dump_summary& d);

/// One layer, exact, in memory independent of the number of files.
layer_result compute_layer_from_files(const dump_summary& d, int layer, const layer_options& opt);

/// The same with its grouped jackknife: file i in group i mod `groups`.
layer_jackknife compute_layer_jackknife_from_files(const dump_summary& d, int layer, int groups,
                                                   const layer_options& opt);

/// --ci's groups for `files` samples: --ci-groups, or min(files, 10); a
/// usage error naming the counts when they cannot make a jackknife.
int jackknife_groups(const compute_options& o, std::size_t files);

/// The intervals of a result computed with --ci (what report_result prints and writes).
struct result_uncertainty {
    mir_jackknife jackknife;  // MIR's and each layer's (in the result's layer order), over result_origin::files
};

/// The layers of some dump files computed as `mir compute` does (layers in
/// parallel as o.threads plans), with `groups` > 0 also their jackknife at
/// level o.ci; `display` (optional) shows the progress.
struct files_result {
    std::vector<layer_result> layers;  // in the order of `layers`
    std::optional<result_uncertainty> ci;
    run_details run;
};
files_result compute_files(const dump_summary& d, const std::vector<int>& layers, const compute_options& o, int groups,
                           progress_display* display = nullptr);

/// The whole command; returns the process exit code.
int run_compute(const compute_options& o);

/// The JSON document of a result (docs/schema/compute.schema.json, docs/cli.md).
nlohmann::ordered_json result_json(const mir_result& r, const compute_options& o, const result_origin& d,
                                   const run_details& run = {}, const result_uncertainty* ci = nullptr);

/// The JSON "ci" object of one interval (compute.schema.json#/$defs/ci).
nlohmann::ordered_json interval_json(const jackknife_interval& j);

class output_set;
/// What compute (and merge) do with the layers' results: warnings for
/// square roots that did not converge, MIR, the JSON and the plot into
/// `out` (committed), the table on stdout unless a document went there.
void report_result(std::vector<layer_result> results, const compute_options& o, const result_origin& d,
                   const run_details& run, output_set& out, const result_uncertainty* ci = nullptr);

}  // namespace mir::tool
