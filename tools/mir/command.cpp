#include "command.hpp"

#include <mir/version.hpp>

#include <string>

namespace mir::tool {

std::vector<command> register_commands(CLI::App& app) {
    app.set_version_flag("--version", std::string("mir ") + MIR_VERSION_STRING);
    app.option_defaults()->always_capture_default();  // defaults in --help, the man page and the JSON's options
    app.require_subcommand(1);
    return {register_compute(app),   register_synth(app), register_inspect(app), register_moca_init(app),
            register_bench_sqrt(app), register_merge(app), register_track(app),   register_compare(app)};
}

}  // namespace mir::tool
