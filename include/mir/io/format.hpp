// mir/io/format.hpp — the one place that decides a file's format from its
// name: every reader, the dump layouts and the program ask here.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace mir::io {

enum class file_format { safetensors, npz, npy, unknown };

constexpr std::string_view to_string(file_format f) noexcept {
    switch (f) {
        case file_format::safetensors: return "safetensors";
        case file_format::npz: return "npz";
        case file_format::npy: return "npy";
        case file_format::unknown: return "unknown";
    }
    return "?";
}

/// The format named by the file's extension (.safetensors, .npz, .npy).
[[nodiscard]] inline file_format format_of(const std::filesystem::path& path) {
    const std::string ext = path.extension().string();
    if (ext == ".safetensors") return file_format::safetensors;
    if (ext == ".npz") return file_format::npz;
    if (ext == ".npy") return file_format::npy;
    return file_format::unknown;
}

/// Formats that can hold a hidden-state dump (SPEC §7): a dump is a set of
/// named tensors, so a lone .npy cannot be one.
[[nodiscard]] constexpr bool holds_dumps(file_format f) noexcept {
    return f == file_format::safetensors || f == file_format::npz;
}

/// The extensions holds_dumps accepts, for messages.
inline constexpr std::string_view dump_extensions = ".safetensors or .npz";

}  // namespace mir::io
