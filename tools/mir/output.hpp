// tools/mir/output.hpp — the one way the program writes what it produces
// (JSON, plots, checkpoints, synthetic dumps, benchmark files), for every
// subcommand:
//
//   1. declare every output before any work, and check() them: at most one
//      goes to stdout ("-"), files are distinct from each other and from
//      every input (same path, or same device and inode), each one's
//      directory exists and is writable, none is a directory;
//   2. put() the documents once computed;
//   3. commit(): every file is written to a temporary file in its own
//      directory and checked through close; only when all are complete are
//      they renamed over their targets (over the file a symbolic link
//      names, so that the link stays), and stdout is written and flushed.
//      Any failure removes the temporary files and leaves every existing
//      file as it was; the error names the file. An existing target that is
//      not a regular file (/dev/null, /dev/full, a pipe) is written in place.
#pragma once

#include <mir/error.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "usage.hpp"

namespace mir::tool {

/// Writes a file's bytes at a path the output set chooses (a temporary file).
using file_writer = std::function<void(const std::filesystem::path&)>;

class output_set {
public:
    output_set();
    output_set(const output_set&) = delete;
    output_set& operator=(const output_set&) = delete;
    ~output_set();  ///< removes temporary files of an uncommitted set

    /// Declares an output given by `option` (for messages: "--json"); "-" = stdout.
    void declare(std::string option, std::string path);

    /// The checks of step 1 against `inputs` (files and directories as given).
    /// Throws usage_error for clashes (two outputs on stdout or on one file,
    /// an output that is an input), file_error for a path that cannot be written.
    void check(const std::vector<std::filesystem::path>& inputs = {}) const;

    /// The document of a declared output.
    void put(const std::string& path, std::string doc, std::string what);
    /// A file written by `write` (at a temporary path) instead of from a
    /// string; with `now`, written to its temporary file at once (not at
    /// commit), so that many large files need not be held in memory.
    void put_file(const std::string& path, file_writer write, std::string what, bool now = false);

    /// Step 3. Throws file_error "PATH: cannot write WHAT: reason" ("stdout: ..." for "-").
    void commit();

private:
    struct entry {
        std::string option, path, what, doc;
        file_writer write;
        bool staged = false;
        std::filesystem::path temp;    // empty for stdout and in-place targets
        std::filesystem::path target;  // what the temporary file replaces: path, or the file a symlink names
    };
    entry& find(const std::string& path);
    void stage(entry& e);
    std::vector<entry> entries_;
    std::map<std::string, std::size_t> index_;  // path → its entry
    unsigned mode_ = 0644;
    std::vector<std::filesystem::path> temps_;  // to remove unless committed
};

/// One file or stdout, written now as an output_set of one (checked, atomic).
void write_output(const std::string& path, std::string_view doc, std::string_view what);

/// A JSON document as the program writes them: indented by 2, one final newline.
std::string json_text(const nlohmann::ordered_json& j);

/// Fails (file_error "stdout: cannot write ...") when anything printed to
/// stdout did not reach it; main calls it before exiting.
void check_stdout();

}  // namespace mir::tool
