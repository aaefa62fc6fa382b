// mir/io/npz.hpp — .npz archives (numpy.savez / numpy.savez_compressed),
// read with libzip.
//
// An .npz is a zip archive of .npy members, stored (savez) or deflated
// (savez_compressed); numpy writes ZIP64 records for large members, and
// libzip reads those too. The archive is memory-mapped and handed to
// libzip as a buffer source, opened read-only with libzip's consistency
// checks (ZIP_CHECKCONS: the local headers must agree with the central
// directory). Members whose names end in ".npy" are arrays, named without
// the suffix; other members (and directories) are ignored. Each member is
// inflated into memory, its CRC checked by libzip, and parsed with
// parse_npy (see npy.hpp for the .npy rules).
//
// Errors throw mir::file_error naming the archive, and the member where
// there is one: "a.npz: invalid npz file: ..." or "a.npz:x.npy: ...".
// An npz_file serialises read() calls internally (libzip handles are not
// thread-safe); it is movable, not copyable.
#pragma once

#include <zip.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mir/error.hpp"
#include "mir/io/mapped_file.hpp"
#include "mir/io/npy.hpp"
#include "mir/io/tensor.hpp"

namespace mir::io {

class npz_file {
public:
    npz_file() = default;

    /// Maps and opens the archive; throws mir::file_error naming the file.
    static npz_file open(const std::filesystem::path& path) {
        npz_file f;
        f.file_ = mapped_file::open(path);
        f.path_ = path;
        f.name_ = path.string();
        f.open_archive(f.file_.bytes());
        return f;
    }

    /// Opens an archive image held in memory (copied). `name` names it in
    /// messages and becomes path().
    static npz_file from_bytes(std::span<const std::byte> bytes, std::string name) {
        npz_file f;
        f.owned_.assign(bytes.begin(), bytes.end());
        f.path_ = name;
        f.name_ = std::move(name);
        f.open_archive(f.owned_);
        return f;
    }

    /// Array names (member names without ".npy"), in archive order.
    [[nodiscard]] std::vector<std::string> names() const {
        std::vector<std::string> out;
        out.reserve(members_.size());
        for (const auto& m : members_) out.push_back(m.name);
        return out;
    }
    [[nodiscard]] bool contains(std::string_view name) const noexcept { return find(name) != nullptr; }
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

    /// Inflates and parses member `name` + ".npy". Throws mir::file_error
    /// naming the file and the member.
    [[nodiscard]] npy_array read(std::string_view name) const {
        const member* m = find(name);
        if (m == nullptr) {
            std::string have;
            for (const auto& x : members_) have += (have.empty() ? "" : ", ") + detail::printable(x.name);
            throw file_error(name_ + ": no array '" + detail::printable(name) + "' in the archive (it holds: " +
                             (have.empty() ? std::string("no .npy members") : have) + ")");
        }
        const std::string what = name_ + ":" + detail::printable(m->name) + ".npy";
        std::vector<std::byte> bytes;
        {
            if (!mutex_) throw file_error(what + ": the archive is not open");
            std::lock_guard lock(*mutex_);
            if (!zip_) throw file_error(what + ": the archive was closed");
            bytes = inflate(*m, what);
        }
        return parse_npy(std::move(bytes), what);
    }

    /// Closes the archive and unmaps the file.
    void close() noexcept {
        zip_.reset();
        file_.close();
        owned_.clear();
        owned_.shrink_to_fit();
    }

private:
    struct zip_deleter {
        void operator()(zip_t* z) const noexcept { zip_discard(z); }
    };
    struct member {
        std::string name;  // without ".npy"
        zip_uint64_t index;
    };

    [[noreturn]] void fail(const std::string& rule) const {
        throw file_error(name_ + ": invalid npz file: " + rule);
    }

    [[nodiscard]] const member* find(std::string_view name) const noexcept {
        for (const auto& m : members_) {
            if (m.name == name) return &m;
        }
        return nullptr;
    }

    void open_archive(std::span<const std::byte> bytes) {
        // libzip takes an empty buffer for an empty archive; numpy.load
        // refuses an empty file, and so do we.
        if (bytes.empty()) fail("the file is empty (0 bytes), not a zip archive");
        zip_error_t err;
        zip_error_init(&err);
        zip_source_t* src =
            zip_source_buffer_create(bytes.data(), bytes.size(), 0, &err);
        if (src == nullptr) {
            std::string msg = zip_error_strerror(&err);
            zip_error_fini(&err);
            fail("cannot create a zip source: " + msg);
        }
        zip_t* z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
        if (z == nullptr) {
            std::string msg = zip_error_strerror(&err);
            zip_error_fini(&err);
            zip_source_free(src);
            fail("not a readable zip archive: " + msg);
        }
        zip_error_fini(&err);
        zip_.reset(z);
        mutex_ = std::make_unique<std::mutex>();

        const zip_int64_t n = zip_get_num_entries(z, 0);
        if (n < 0) fail("cannot count the archive's members");
        for (zip_int64_t i = 0; i < n; ++i) {
            const auto idx = static_cast<zip_uint64_t>(i);
            const char* raw = zip_get_name(z, idx, ZIP_FL_ENC_GUESS);
            if (raw == nullptr) fail("cannot read the name of member " + std::to_string(i) + ": " + zip_strerror(z));
            std::string_view full(raw);
            constexpr std::string_view suffix = ".npy";
            if (full.size() < suffix.size() || full.substr(full.size() - suffix.size()) != suffix) continue;
            std::string name(full.substr(0, full.size() - suffix.size()));
            if (find(name) != nullptr) fail("duplicate member '" + detail::printable(full) + "'");
            members_.push_back({std::move(name), idx});
        }
    }

    std::vector<std::byte> inflate(const member& m, const std::string& what) const {
        zip_t* z = zip_.get();
        zip_stat_t st;
        zip_stat_init(&st);
        if (zip_stat_index(z, m.index, 0, &st) != 0) {
            throw file_error(what + ": cannot read the member's directory entry: " + zip_strerror(z));
        }
        if ((st.valid & ZIP_STAT_SIZE) == 0) throw file_error(what + ": the member's size is unknown");
        if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) != 0 && st.encryption_method != ZIP_EM_NONE) {
            throw file_error(what + ": the member is encrypted");
        }
        zip_file_t* zf = zip_fopen_index(z, m.index, 0);
        if (zf == nullptr) throw file_error(what + ": cannot open the member: " + zip_strerror(z));
        std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> guard(zf, &zip_fclose);
        std::vector<std::byte> out;
        // The directory's size is untrusted: reserve at most 64 MiB ahead.
        out.reserve(static_cast<std::size_t>(std::min<zip_uint64_t>(st.size, zip_uint64_t{64} << 20)));
        constexpr std::size_t chunk = std::size_t{1} << 20;
        for (;;) {
            const std::size_t at = out.size();
            const std::size_t want =
                static_cast<std::size_t>(std::min<zip_uint64_t>(chunk, st.size - std::min<zip_uint64_t>(st.size, at)) + 1);
            out.resize(at + want);
            const zip_int64_t got = zip_fread(zf, out.data() + at, want);
            if (got < 0) {
                throw file_error(what + ": cannot inflate the member: " + zip_file_strerror(zf));
            }
            out.resize(at + static_cast<std::size_t>(got));
            if (got == 0) break;
            if (out.size() > st.size) {
                throw file_error(what + ": the member holds more than the " + std::to_string(st.size) +
                                 " bytes its directory entry says");
            }
        }
        if (out.size() != st.size) {
            throw file_error(what + ": the member holds " + std::to_string(out.size()) + " bytes, but its directory entry says " +
                             std::to_string(st.size));
        }
        zip_file_t* raw = guard.release();
        if (int rc = zip_fclose(raw); rc != 0) {
            throw file_error(what + ": cannot close the member (zip error " + std::to_string(rc) + ")");
        }
        return out;
    }

    mapped_file file_;
    std::vector<std::byte> owned_;
    std::filesystem::path path_;
    std::string name_;
    std::unique_ptr<zip_t, zip_deleter> zip_;
    std::vector<member> members_;
    std::unique_ptr<std::mutex> mutex_;
};

}  // namespace mir::io
