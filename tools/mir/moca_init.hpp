// tools/mir/moca_init.hpp — `mir moca-init`: a moment-matching MoCa
// calibration from hidden-state dumps (docs/moca.md).
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace mir::tool {

struct moca_init_options {
    std::vector<std::string> inputs;
    std::string out;
    std::string dtype = "f32";               // f32 | bf16 | f16
    std::string policy = "replace-median";   // as mir compute --outliers
    std::string json;                        // "" = none, "-" = stdout
    int threads = 1;
};

/// Registers the subcommand and its options on `app`.
inline CLI::App* add_moca_init_command(CLI::App& app, moca_init_options& o) {
    auto* c = app.add_subcommand(
        "moca-init", "moment-matching MoCa calibration (u, v per decoder layer) from dumps, with FID before/after");
    c->add_option("paths", o.inputs, "dump files, or directories of .safetensors/.npz files")->required();
    c->add_option("--out", o.out, "checkpoint to write (official names model.layers.{i}.modality_layernorm.*)")
        ->required();
    c->add_option("--dtype", o.dtype, "f32 (default), bf16 or f16")->check(CLI::IsMember({"f32", "bf16", "f16"}));
    c->add_option("--outliers", o.policy, "replace-median (default), drop or none")
        ->check(CLI::IsMember({"replace-median", "drop", "none"}));
    c->add_option("--json", o.json, "also write the per-layer FIDs as JSON to FILE (- for stdout, nothing else printed)");
    c->add_option("--threads", o.threads, "layers computed in parallel (default 1)")->check(CLI::Range(1, 1024));
    return c;
}

/// The whole command; returns the process exit code.
int run_moca_init(const moca_init_options& o);

}  // namespace mir::tool
