// tools/mir/man_page.hpp — the mir(1) manual page, generated from the same
// CLI11 definitions as --help (every subcommand, option, choice and
// default), so the two cannot drift. `mir --man` prints it; the build
// writes it to man/mir.1 and `cmake --install` installs it.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace mir::tool {

/// The page in man(7) roff for `app` with its subcommands registered.
std::string man_page(const CLI::App& app, const std::string& version);

}  // namespace mir::tool
