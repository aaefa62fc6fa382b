// mir/io/npz.hpp — .npz archives (numpy.savez / numpy.savez_compressed),
// read with libzip.
//
// An .npz is a zip archive of .npy members, stored (savez) or deflated
// (savez_compressed); numpy writes ZIP64 records for large members, and
// libzip reads those too. The archive is memory-mapped and handed to
// libzip as a buffer source, opened read-only with libzip's consistency
// checks (ZIP_CHECKCONS: the local headers must agree with the central
// directory). Members whose names end in ".npy" are arrays, named without
// the suffix; other members (and directories) are ignored. Two members of
// one name are an error ("duplicate member 'x.npy'"). Names are hashed:
// opening is linear in the number of members, and a lookup is O(1).
//
// Nothing is inflated until asked for: header(name) inflates only the
// member's .npy header (at most 12 + npy_max_header_size bytes), read(name)
// the whole member, into one buffer of exactly the size its directory entry
// gives, after checking that size against the .npy header (shape x
// itemsize + header = the member's size) and against what the compression
// can produce (stored: the compressed size; deflate: at most
// npz_max_deflate_ratio times the compressed size, deflate's own limit), so
// a hostile directory entry cannot make it allocate more than the data
// could fill. Its CRC is checked by libzip, and it is parsed with parse_npy
// (see npy.hpp for the .npy rules). An allocation failure is a
// mir::file_error naming the archive and the member.
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
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mir/error.hpp"
#include "mir/io/mapped_file.hpp"
#include "mir/io/npy.hpp"
#include "mir/io/tensor.hpp"

namespace mir::io {

/// Deflate expands at most 1032:1 (RFC 1951: a 258-byte match in at most
/// two bits); a member that claims more than this times its compressed size
/// (plus 1 KiB for the stream's framing) is refused before any allocation.
inline constexpr std::uint64_t npz_max_deflate_ratio = 1032;

class npz_file {
public:
    npz_file() = default;

    /// Maps and opens the archive; throws mir::file_error naming the file.
    static npz_file open(const std::filesystem::path& path) {
        npz_file f(mapped_file::open(path), path.string());
        f.open_archive(f.file_.bytes());
        return f;
    }

    /// Opens an archive image held in memory (copied). `name` names it in
    /// messages and becomes path().
    static npz_file from_bytes(std::span<const std::byte> bytes, std::string name) {
        npz_file f(mapped_file(), std::move(name));
        f.owned_.assign(bytes.begin(), bytes.end());
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
    /// The mapped file's identity (see mapped_file::id); zero for from_bytes.
    [[nodiscard]] file_id id() const noexcept { return file_.id(); }

    /// The .npy header of member `name` + ".npy" (dtype, shape, byte
    /// counts), inflating only the header. Throws mir::file_error naming
    /// the file and the member.
    [[nodiscard]] detail::npy_header header(std::string_view name) const {
        const member& m = get(name);
        const std::string what = member_name(m);
        std::lock_guard lock(lock_open(what));
        return read_header(m, what);
    }

    /// Inflates and parses member `name` + ".npy". Throws mir::file_error
    /// naming the file and the member.
    [[nodiscard]] npy_array read(std::string_view name) const {
        const member& m = get(name);
        const std::string what = member_name(m);
        try {
            std::vector<std::byte> bytes;
            {
                std::lock_guard lock(lock_open(what));
                (void)read_header(m, what);  // the sizes agree before anything is allocated
                bytes = inflate(m, what);
            }
            return parse_npy(std::move(bytes), what);
        } catch (const std::bad_alloc&) {
            throw file_error(what + ": out of memory reading the member (" + std::to_string(m.size) + " bytes)");
        }
    }

    /// Closes the archive and unmaps the file.
    void close() noexcept {
        zip_.reset();
        file_.close();
        owned_.clear();
        owned_.shrink_to_fit();
    }

private:
    npz_file(mapped_file file, std::string name) : file_(std::move(file)), path_(name), name_(std::move(name)) {}

    struct zip_deleter {
        void operator()(zip_t* z) const noexcept { zip_discard(z); }
    };
    struct member {
        std::string name;  // without ".npy"
        zip_uint64_t index;
        zip_uint64_t size = 0;  // uncompressed, from the directory
    };

    [[noreturn]] void fail(const std::string& rule) const {
        throw file_error(name_ + ": invalid npz file: " + rule);
    }

    [[nodiscard]] const member* find(std::string_view name) const {
        auto it = index_.find(std::string(name));
        return it == index_.end() ? nullptr : &members_[it->second];
    }

    [[nodiscard]] const member& get(std::string_view name) const {
        const member* m = find(name);
        if (m != nullptr) return *m;
        std::string have;
        for (const auto& x : members_) {
            if (have.size() > 400) {
                have += ", ...";
                break;
            }
            have += (have.empty() ? "" : ", ") + detail::printable(x.name);
        }
        throw file_error(name_ + ": no array '" + detail::printable(name) + "' in the archive (it holds: " +
                         (have.empty() ? std::string("no .npy members") : have) + ")");
    }

    [[nodiscard]] std::string member_name(const member& m) const { return name_ + ":" + detail::printable(m.name) + ".npy"; }

    std::mutex& lock_open(const std::string& what) const {
        if (!mutex_ || !zip_) throw file_error(what + ": the archive is not open (or was closed)");
        return *mutex_;
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
        detail::table_reads().fetch_add(1, std::memory_order_relaxed);
        zip_t* z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
        if (z == nullptr) {
            const bool exists = zip_error_code_zip(&err) == ZIP_ER_EXISTS;
            std::string msg = zip_error_strerror(&err);
            zip_error_fini(&err);
            zip_source_free(src);
            // libzip refuses two members of one name with "File already
            // exists": name the member.
            if (exists) fail_duplicate(bytes);
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
            if (!index_.emplace(name, members_.size()).second) fail("duplicate member '" + detail::printable(full) + "'");
            zip_stat_t st;
            zip_stat_init(&st);
            if (zip_stat_index(z, idx, 0, &st) != 0 || (st.valid & ZIP_STAT_SIZE) == 0) {
                fail("cannot read the directory entry of member '" + detail::printable(full) + "': " + zip_strerror(z));
            }
            members_.push_back({std::move(name), idx, st.size});
        }
    }

    /// Names the first member that occurs twice (libzip only says that one does).
    [[noreturn]] void fail_duplicate(std::span<const std::byte> bytes) const {
        zip_error_t err;
        zip_error_init(&err);
        zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &err);
        zip_t* z = src == nullptr ? nullptr : zip_open_from_source(src, ZIP_RDONLY, &err);
        zip_error_fini(&err);
        if (z == nullptr) {
            if (src != nullptr) zip_source_free(src);
            fail("two members have the same name");
        }
        std::unique_ptr<zip_t, zip_deleter> guard(z);
        std::unordered_map<std::string, int> seen;
        const zip_int64_t n = zip_get_num_entries(z, ZIP_FL_UNCHANGED);
        for (zip_int64_t i = 0; i < n; ++i) {
            const char* raw = zip_get_name(z, static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW | ZIP_FL_UNCHANGED);
            if (raw != nullptr && !seen.emplace(raw, 0).second) fail("duplicate member '" + detail::printable(raw) + "'");
        }
        fail("two members have the same name");
    }

    /// Directory checks of a member before it is inflated: not encrypted,
    /// and a size the compressed bytes can produce.
    zip_stat_t stat_member(const member& m, const std::string& what) const {
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
        if ((st.valid & ZIP_STAT_COMP_SIZE) != 0 && (st.valid & ZIP_STAT_COMP_METHOD) != 0) {
            const bool stored = st.comp_method == ZIP_CM_STORE;
            const std::uint64_t cap = stored ? st.comp_size
                                             : (st.comp_size > (std::uint64_t{1} << 53) ? UINT64_MAX
                                                                                       : st.comp_size * npz_max_deflate_ratio + 1024);
            if (st.comp_method != ZIP_CM_STORE && st.comp_method != ZIP_CM_DEFLATE) {
                // other methods (bzip2, xz, zstd) compress further; numpy writes neither
            } else if (st.size > cap) {
                throw file_error(what + ": the directory says " + std::to_string(st.size) + " bytes from " +
                                 std::to_string(st.comp_size) + " compressed bytes, more than " +
                                 (stored ? std::string("a stored member holds (its compressed size)")
                                         : "deflate can produce (" + std::to_string(npz_max_deflate_ratio) + ":1)"));
            }
        }
        return st;
    }

    /// Inflates the member's .npy header and checks it against the
    /// member's size.
    detail::npy_header read_header(const member& m, const std::string& what) const {
        const zip_stat_t st = stat_member(m, what);
        zip_file_t* zf = zip_fopen_index(zip_.get(), m.index, 0);
        if (zf == nullptr) throw file_error(what + ": cannot open the member: " + zip_strerror(zip_.get()));
        std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> guard(zf, &zip_fclose);
        std::vector<std::byte> prefix(static_cast<std::size_t>(std::min<zip_uint64_t>(st.size, 12)));
        read_exactly(zf, prefix, 0, what);
        if (const std::uint64_t want = detail::npy_prefix_size(prefix); want > prefix.size() && want <= st.size) {
            const std::size_t at = prefix.size();
            prefix.resize(static_cast<std::size_t>(want));
            read_exactly(zf, prefix, at, what);
        }
        return detail::parse_npy_header(prefix, what, st.size);
    }

    static void read_exactly(zip_file_t* zf, std::vector<std::byte>& out, std::size_t at, const std::string& what) {
        while (at < out.size()) {
            const zip_int64_t got = zip_fread(zf, out.data() + at, out.size() - at);
            if (got < 0) throw file_error(what + ": cannot inflate the member: " + zip_file_strerror(zf));
            if (got == 0) {
                throw file_error(what + ": the member holds " + std::to_string(at) +
                                 " bytes, fewer than its directory entry says");
            }
            at += static_cast<std::size_t>(got);
        }
    }

    /// The whole member, in one buffer of the size its directory gives.
    std::vector<std::byte> inflate(const member& m, const std::string& what) const {
        const zip_stat_t st = stat_member(m, what);
        zip_file_t* zf = zip_fopen_index(zip_.get(), m.index, 0);
        if (zf == nullptr) throw file_error(what + ": cannot open the member: " + zip_strerror(zip_.get()));
        std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> guard(zf, &zip_fclose);
        std::vector<std::byte> out(static_cast<std::size_t>(st.size));
        read_exactly(zf, out, 0, what);
        std::byte extra[1];
        const zip_int64_t more = zip_fread(zf, extra, 1);
        if (more < 0) throw file_error(what + ": cannot inflate the member: " + zip_file_strerror(zf));
        if (more > 0) {
            throw file_error(what + ": the member holds more than the " + std::to_string(st.size) +
                             " bytes its directory entry says");
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
    std::unordered_map<std::string, std::size_t> index_;
    std::unique_ptr<std::mutex> mutex_;
};

}  // namespace mir::io
