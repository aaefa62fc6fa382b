// mir/io/tensor_file.hpp — a file of named tensors in any format mir reads
// (.safetensors mapped in place, .npz decompressed on open), chosen by the
// one format rule of mir/io/format.hpp. What the dump layouts and
// `mir inspect` open.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mir/error.hpp"
#include "mir/io/format.hpp"
#include "mir/io/npz.hpp"
#include "mir/io/safetensors.hpp"
#include "mir/io/tensor.hpp"

namespace mir::io {

class tensor_file {
public:
    /// Opens a .safetensors or .npz file; throws mir::file_error naming the
    /// file (and the member or rule) for anything else or anything malformed.
    static tensor_file open(const std::filesystem::path& path) {
        tensor_file f;
        f.path_ = path;
        switch (format_of(path)) {
            case file_format::safetensors:
                f.st_ = safetensors_file::open(path);
                f.tensors_ = f.st_->tensors();
                break;
            case file_format::npz: {
                const npz_file z = npz_file::open(path);
                for (const auto& name : z.names()) f.arrays_.emplace_back(name, z.read(name));
                for (const auto& [name, a] : f.arrays_) f.tensors_.push_back(a.view(name));
                break;
            }
            default:
                throw file_error(path.string() + ": unsupported file type '" + path.extension().string() +
                                 "' (expected " + std::string(dump_extensions) + ")");
        }
        return f;
    }

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    /// Every tensor in the file, in file order; views into the file's memory.
    [[nodiscard]] const std::vector<tensor_view>& tensors() const noexcept { return tensors_; }
    /// The tensor called `name`, or nullptr.
    [[nodiscard]] const tensor_view* find(std::string_view name) const noexcept {
        for (const auto& t : tensors_) {
            if (t.name == name) return &t;
        }
        return nullptr;
    }

    /// Releases the mapping / the decompressed arrays (views become invalid).
    void close() noexcept {
        tensors_.clear();
        arrays_.clear();
        if (st_) st_->close();
        st_.reset();
    }

private:
    tensor_file() = default;

    std::filesystem::path path_;
    std::optional<safetensors_file> st_;
    std::vector<std::pair<std::string, npy_array>> arrays_;
    std::vector<tensor_view> tensors_;
};

}  // namespace mir::io
