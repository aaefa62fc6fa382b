// mir/io/tensor_file.hpp — a file of named tensors in any format mir reads,
// chosen by the one format rule of mir/io/format.hpp: .safetensors mapped in
// place; .npz with only the members' .npy headers read on open, a member's
// data inflated when load() asks for it (a member nobody loads is never
// inflated). What the dump layouts and `mir inspect` open.
#pragma once

#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mir/error.hpp"
#include "mir/io/format.hpp"
#include "mir/io/mapped_file.hpp"
#include "mir/io/npz.hpp"
#include "mir/io/safetensors.hpp"
#include "mir/io/tensor.hpp"

namespace mir::io {

namespace detail {

/// A file that begins with the .npy magic holds one array, whatever its name.
[[noreturn]] inline void fail_lone_npy(const std::filesystem::path& path) {
    throw file_error(path.string() +
                     ": a .npy file holds one array; a dump needs named tensors (hidden_states + vision_mask, or "
                     "vision + text) in one " + std::string(dump_extensions) +
                     " file (numpy.savez writes an .npz of named arrays)");
}

inline bool begins_with_npy_magic(std::span<const std::byte> bytes) noexcept {
    return bytes.size() >= 6 && std::memcmp(bytes.data(), "\x93NUMPY", 6) == 0;
}

}  // namespace detail

class tensor_file {
public:
    /// Opens a .safetensors or .npz file; throws mir::file_error naming the
    /// file (and the member or rule) for anything else or anything malformed.
    static tensor_file open(const std::filesystem::path& path) {
        tensor_file f;
        f.path_ = path;
        const file_format fmt = format_of(path);
        if (fmt == file_format::npy) detail::fail_lone_npy(path);
        if (!holds_dumps(fmt)) {
            throw file_error(path.string() + ": unsupported file type '" + path.extension().string() + "' (expected " +
                             std::string(dump_extensions) + ")");
        }
        {
            // A .npy file renamed: say so rather than misreading its magic
            // as a header length or a zip signature.
            const mapped_file probe = mapped_file::open(path);
            if (detail::begins_with_npy_magic(probe.bytes())) detail::fail_lone_npy(path);
        }
        if (fmt == file_format::safetensors) {
            f.st_ = safetensors_file::open(path);  // its table and index serve as they are (no copy)
            f.id_ = f.st_->id();
        } else {
            f.npz_ = std::make_shared<npz_file>(npz_file::open(path));
            f.id_ = f.npz_->id();
            for (const auto& name : f.npz_->names()) {
                const auto h = f.npz_->header(name);
                tensor_view t;
                t.name = name;
                t.dtype = h.dtype;
                t.shape = h.shape;
                t.nbytes = h.nbytes;
                t.file = path.string();
                f.tensors_.push_back(std::move(t));
            }
            f.index_.reserve(f.tensors_.size());
            for (std::size_t i = 0; i < f.tensors_.size(); ++i) f.index_.emplace(f.tensors_[i].name, i);
        }
        return f;
    }

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    [[nodiscard]] file_format format() const noexcept { return st_ ? file_format::safetensors : file_format::npz; }
    /// The file's identity when it was opened (see mapped_file::id).
    [[nodiscard]] const file_id& id() const noexcept { return id_; }
    /// Every tensor in the file, in file order. Safetensors views point into
    /// the mapping; npz views have names, dtypes, shapes and byte counts, and
    /// data only once load() inflated them.
    [[nodiscard]] const std::vector<tensor_view>& tensors() const noexcept { return st_ ? st_->tensors() : tensors_; }
    /// The tensor called `name`, or nullptr.
    [[nodiscard]] const tensor_view* find(std::string_view name) const {
        if (st_) return st_->find(name);
        auto it = index_.find(name);
        return it == index_.end() ? nullptr : &tensors_[it->second];
    }
    /// Makes the data of tensor `name` available (npz: inflates the member
    /// once; safetensors: nothing to do) and returns its view. Throws
    /// mir::file_error naming the file and member.
    const tensor_view& load(std::string_view name) {
        if (st_) {
            if (const tensor_view* t = st_->find(name)) return *t;
            throw file_error(path_.string() + ": no tensor '" + detail::printable(name) + "'");
        }
        auto it = index_.find(name);
        if (it == index_.end()) throw file_error(path_.string() + ": no tensor '" + detail::printable(name) + "'");
        tensor_view& t = tensors_[it->second];
        if (npz_ && t.data == nullptr) {
            arrays_.push_back(npz_->read(name));
            t.data = arrays_.back().data.data();
            t.nbytes = arrays_.back().data.size();
        }
        return t;
    }
    /// Where safetensors tensor `t` (one of tensors()) begins in the file
    /// (0 for npz members).
    [[nodiscard]] std::uint64_t offset_of(const tensor_view& t) const noexcept { return st_ ? st_->offset_of(t) : 0; }
    /// The open archive of an .npz file (null for safetensors), for readers
    /// that inflate members again later without reading the directory again.
    [[nodiscard]] std::shared_ptr<const npz_file> archive() const noexcept { return npz_; }

    /// Releases the mapping / the inflated arrays (views become invalid).
    void close() noexcept {
        tensors_.clear();
        index_.clear();
        arrays_.clear();
        if (st_) st_->close();
        st_.reset();
        npz_.reset();
    }

private:
    tensor_file() = default;

    std::filesystem::path path_;
    file_id id_;
    std::optional<safetensors_file> st_;
    std::shared_ptr<npz_file> npz_;
    std::vector<npy_array> arrays_;
    std::vector<tensor_view> tensors_;  // npz only (safetensors: st_'s)
    std::unordered_map<std::string, std::size_t, detail::string_hash, std::equal_to<>> index_;
};

}  // namespace mir::io
