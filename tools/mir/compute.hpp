// tools/mir/compute.hpp — `mir compute`: dump files in, MIR out.
#pragma once

#include <mir/source/dump_source.hpp>
#include <mir/mir.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
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

/// One layer, exact, in memory independent of the number of files.
layer_result compute_layer_from_files(const dump_summary& d, int layer, const layer_options& opt);

/// The whole command; returns the process exit code.
int run_compute(const compute_options& o);

/// The JSON document of a result (docs/schema/compute.schema.json, docs/cli.md).
nlohmann::ordered_json result_json(const mir_result& r, const compute_options& o, const dump_summary& d,
                                   const run_details& run = {});

}  // namespace mir::tool
