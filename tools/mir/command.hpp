// tools/mir/command.hpp — how a subcommand plugs into main.cpp: each
// subcommand's file provides register_X(app), which adds the subcommand and
// its options to `app` and returns what runs it once the arguments are parsed.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <vector>

namespace mir::tool {

struct command {
    CLI::App* app = nullptr;   ///< the subcommand's parser (true after parsing when it was chosen)
    std::function<int()> run;  ///< runs it; returns the exit code, throws mir::error for bad input
};

command register_compute(CLI::App& app);     // compute.cpp
command register_synth(CLI::App& app);       // synth.cpp
command register_inspect(CLI::App& app);     // inspect.cpp
command register_moca_init(CLI::App& app);   // moca_init.cpp
command register_bench_sqrt(CLI::App& app);  // bench_sqrt_run.cpp
command register_merge(CLI::App& app);       // merge.cpp
command register_track(CLI::App& app);       // track.cpp
command register_compare(CLI::App& app);     // compare.cpp

/// The program's parser with every subcommand registered (the one list of
/// them): main.cpp runs it; the Python module (python/) runs it in-process
/// for mir.compute().
std::vector<command> register_commands(CLI::App& app);  // command.cpp

}  // namespace mir::tool
