// tools/mir/moca_init.hpp — `mir moca-init`: a moment-matching MoCa
// calibration from hidden-state dumps (docs/moca.md).
#pragma once

#include <string>

#include <vector>
#include "cli_options.hpp"

namespace mir::tool {

struct moca_init_options {
    std::vector<std::string> inputs;
    std::string out;
    std::string dtype = "f32";               // f32 | bf16 | f16
    std::string policy = "replace-median";   // as mir compute --outliers
    std::string json;                        // "" = none, "-" = stdout
    thread_options threads;
};

/// The whole command; returns the process exit code.
int run_moca_init(const moca_init_options& o);

}  // namespace mir::tool
