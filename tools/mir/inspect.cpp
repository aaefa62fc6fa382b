// tools/mir/inspect.cpp — `mir inspect`: the tensors of each file and the
// dump layout detected in it.
#include <mir/io/tensor_file.hpp>
#include <mir/source/dump.hpp>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "command.hpp"

namespace mir::tool {

namespace {

// A file that cannot be read is reported on stderr and the listing goes on;
// the exit code is then 1 (as for a file that is not a dump).
void inspect_file(const std::filesystem::path& f, int& status) {
    std::printf("%s\n", f.string().c_str());
    auto file = io::tensor_file::open(f);  // the readers' messages begin with the file
    for (const auto& t : file.tensors()) {
        std::string shape;
        for (std::size_t i = 0; i < t.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(t.shape[i]);
        std::printf("  %-24s %-5s [%s]\n", t.name.c_str(), std::string(to_string(t.dtype)).c_str(), shape.c_str());
    }
    try {
        const auto d = dump_file::open(std::move(file));
        std::printf(
            "  layout: %s; %d hidden-state indices (K = %d), hidden size %td, %td vision + %td text rows per layer",
            std::string(to_string(d.layout())).c_str(), d.num_indices(), d.num_indices() - 1, d.hidden_size(),
            d.vision_rows(), d.text_rows());
        if (d.has_text_mask()) std::printf("; %td ignored (in neither mask)", d.ignored_rows());
        std::printf("\n");
    } catch (const error& e) {
        std::printf("  layout: not a mir dump: %s\n", e.what());
        status = 1;
    }
}

int run_inspect(const std::vector<std::string>& inputs) {
    int status = 0;
    for (const auto& arg : inputs) {
        try {
            for (const auto& f : expand_inputs({std::filesystem::path(arg)})) {
                try {
                    inspect_file(f, status);
                } catch (const error& e) {
                    std::fflush(stdout);  // the listing so far, then the error, in order on a terminal
                    std::fprintf(stderr, "mir: error: %s\n", e.what());
                    status = 1;
                }
            }
        } catch (const error& e) {
            std::fflush(stdout);
            std::fprintf(stderr, "mir: error: %s\n", e.what());
            status = 1;
        }
    }
    return status;
}

}  // namespace

command register_inspect(CLI::App& app) {
    const auto inputs = std::make_shared<std::vector<std::string>>();
    auto* c = app.add_subcommand("inspect", "tensors, dtypes, shapes and the detected dump layout");
    c->add_option("paths", *inputs, "files or directories")->required();
    return {c, [inputs] { return run_inspect(*inputs); }};
}

}  // namespace mir::tool
