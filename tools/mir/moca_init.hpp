// tools/mir/moca_init.hpp — `mir moca-init`: a moment-matching MoCa
// calibration from hidden-state dumps (docs/moca.md).
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli_options.hpp"
#include "progress_display.hpp"

namespace mir::tool {

struct moca_init_options {
    std::vector<std::string> inputs;
    std::string out;
    std::string dtype = "f32";               // f32 | bf16 | f16
    std::string policy = "replace-median";   // as mir compute --outliers
    std::string json;                        // "" = none, "-" = stdout
    thread_options threads;
    bool quiet = false;
    progress_options progress;      // --progress, --progress-interval
    const CLI::App* sub = nullptr;  // the parsed subcommand, for the options record (provenance)
};

/// The whole command; returns the process exit code.
int run_moca_init(const moca_init_options& o);

}  // namespace mir::tool
