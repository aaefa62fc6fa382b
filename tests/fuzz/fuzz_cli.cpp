// tests/fuzz/fuzz_cli.cpp — the command line: bytes → arguments (split at
// NUL bytes) → the `mir` parser with every subcommand registered, as
// main.cpp builds it, and the program's own checks of option values
// (--layers syntax). Nothing is run. Expected outcomes: a parse, or a
// CLI::ParseError / mir::error; anything else (another exception, a crash,
// a sanitizer report) is a finding.
#include <CLI/CLI.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "command.hpp"
#include "layers.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::string> args;
    std::string cur;
    for (std::size_t i = 0; i < size && args.size() < 64; ++i) {
        if (data[i] == 0) {
            args.push_back(cur);
            cur.clear();
        } else {
            cur.push_back(static_cast<char>(data[i]));
        }
    }
    if (!cur.empty()) args.push_back(cur);

    CLI::App app{"mir"};
    const std::vector<mir::tool::command> commands = mir::tool::register_commands(app);  // every subcommand's parser
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last first
    try {
        app.parse(reversed);
    } catch (const CLI::ParseError&) {
        return 0;
    }
    // The --layers syntax, checked against a few index counts.
    for (const auto& a : args) {
        for (int k : {1, 2, 33}) {
            try {
                (void)mir::tool::parse_layers(a, k);
            } catch (const mir::error&) {
            }
        }
    }
    return 0;
}
