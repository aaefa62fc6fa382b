// tools/mir/output.hpp — the one way the program writes a result document:
// to a file or to stdout ("-"), checked through the final flush and close,
// so that a full disk is an error and not a truncated file.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace mir::tool {

/// Writes `doc` to `path` ("-" = stdout). Throws file_error "PATH: cannot
/// write WHAT" ("stdout: ..." for "-") when any byte does not reach it.
void write_output(const std::string& path, std::string_view doc, std::string_view what);

/// A JSON document as the program writes them: indented by 2, one final newline.
void write_json(const std::string& path, const nlohmann::ordered_json& j);

}  // namespace mir::tool
