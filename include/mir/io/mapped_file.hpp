// mir/io/mapped_file.hpp — a read-only memory map of a whole file (POSIX),
// and the atomic whole-file writer the io/ writers use.
//
// The mapping is MAP_PRIVATE and read-only. If another process truncates
// the file while it is mapped, touching the lost pages raises SIGBUS (as
// with any mmap-based reader); do not rewrite dumps in place while they
// are being read.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "mir/error.hpp"

namespace mir::io {

namespace detail {

inline std::string errno_text(int err) { return std::generic_category().message(err); }

/// Closes a file descriptor on scope exit.
class fd_guard {
public:
    explicit fd_guard(int fd) noexcept : fd_(fd) {}
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    ~fd_guard() {
        if (fd_ >= 0) ::close(fd_);
    }
    [[nodiscard]] int get() const noexcept { return fd_; }
    /// Closes now and returns close()'s errno (0 on success).
    int close_now() noexcept {
        int err = 0;
        if (fd_ >= 0 && ::close(fd_) != 0) err = errno;
        fd_ = -1;
        return err;
    }

private:
    int fd_;
};

}  // namespace detail

/// What tells one file from another and from a later version of itself:
/// device and inode (the same file under two names compares equal), size
/// and modification time.
struct file_id {
    std::uint64_t dev = 0, ino = 0, size = 0;
    std::int64_t mtime_sec = 0, mtime_nsec = 0;

    [[nodiscard]] bool same_file(const file_id& o) const noexcept { return dev == o.dev && ino == o.ino; }
    friend bool operator==(const file_id&, const file_id&) = default;

    static file_id of(const struct stat& st) noexcept {
        return {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                static_cast<std::uint64_t>(st.st_size), static_cast<std::int64_t>(st.st_mtim.tv_sec),
                static_cast<std::int64_t>(st.st_mtim.tv_nsec)};
    }
};

/// RAII read-only mmap of a whole file. Movable, not copyable. An empty
/// file is opened without a mapping (bytes() is empty).
class mapped_file {
public:
    mapped_file() noexcept = default;

    /// Maps `path`. Throws mir::file_error naming the file when it cannot
    /// be opened, is not a regular file, or cannot be mapped.
    static mapped_file open(const std::filesystem::path& path) {
        const std::string name = path.string();
        // O_NONBLOCK: opening a FIFO must not hang; it is rejected below.
        int fd = -1;
        do {
            fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        } while (fd < 0 && errno == EINTR);
        if (fd < 0) {
            throw file_error(name + ": cannot open: " + detail::errno_text(errno));
        }
        detail::fd_guard guard(fd);
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            throw file_error(name + ": cannot stat: " + detail::errno_text(errno));
        }
        if (S_ISDIR(st.st_mode)) throw file_error(name + ": is a directory, not a file");
        if (!S_ISREG(st.st_mode)) throw file_error(name + ": is not a regular file");
        mapped_file f;
        f.path_ = path;
        f.id_ = file_id::of(st);
        f.size_ = static_cast<std::size_t>(st.st_size);
        f.open_ = true;
        if (f.size_ > 0) {
            void* p = ::mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                throw file_error(name + ": cannot map " + std::to_string(f.size_) +
                                 " bytes: " + detail::errno_text(errno));
            }
            f.data_ = static_cast<const std::byte*>(p);
        }
        return f;
    }

    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;
    mapped_file(mapped_file&& o) noexcept
        : path_(std::move(o.path_)),
          id_(o.id_),
          data_(std::exchange(o.data_, nullptr)),
          size_(std::exchange(o.size_, 0)),
          open_(std::exchange(o.open_, false)) {}
    mapped_file& operator=(mapped_file&& o) noexcept {
        if (this != &o) {
            close();
            path_ = std::move(o.path_);
            id_ = o.id_;
            data_ = std::exchange(o.data_, nullptr);
            size_ = std::exchange(o.size_, 0);
            open_ = std::exchange(o.open_, false);
        }
        return *this;
    }
    ~mapped_file() { close(); }

    /// The whole file (empty once closed).
    [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    /// The file's identity when it was opened.
    [[nodiscard]] const file_id& id() const noexcept { return id_; }
    [[nodiscard]] bool is_open() const noexcept { return open_; }

    /// Unmaps; spans into the file become invalid. Idempotent.
    void close() noexcept {
        if (data_ != nullptr) {
            ::munmap(const_cast<std::byte*>(data_), size_);
        }
        data_ = nullptr;
        size_ = 0;
        open_ = false;
    }

    /// Drops the resident pages that lie wholly inside `range` (which must
    /// be a part of bytes()) with madvise(MADV_DONTNEED): they stop counting
    /// in the resident set and are read again from the file if touched.
    /// A hint: errors are ignored.
    void release(std::span<const std::byte> range) const noexcept {
        if (data_ == nullptr || range.empty()) return;
        const auto base = reinterpret_cast<std::uintptr_t>(data_);
        auto lo = reinterpret_cast<std::uintptr_t>(range.data());
        auto hi = lo + range.size();
        if (lo < base || hi > base + size_) return;
        const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
        lo = (lo + page - 1) / page * page;
        // The file's last partial page belongs to the mapping too.
        hi = hi == base + size_ ? (hi + page - 1) / page * page : hi / page * page;
        if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
    }

private:
    std::filesystem::path path_;
    file_id id_;
    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;
    bool open_ = false;
};

namespace detail {

/// Writes the concatenation of `pieces` to `path` atomically: into a new
/// temporary file next to it (mode 0666 & ~umask), flushed with fsync, then
/// renamed over `path`. On failure the temporary file is removed and
/// mir::file_error names `path` and the step that failed.
inline void write_file_atomically(const std::filesystem::path& path,
                                  const std::vector<std::span<const std::byte>>& pieces) {
    const std::string name = path.string();
    static std::atomic<unsigned> counter{0};
    std::filesystem::path tmp;
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
        tmp = path;
        tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
        fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) {
            throw file_error(name + ": cannot create the temporary file " + tmp.string() + ": " +
                             errno_text(errno));
        }
    }
    if (fd < 0) throw file_error(name + ": cannot create a temporary file next to it");
    fd_guard guard(fd);
    auto fail = [&](const std::string& step, int err) {
        guard.close_now();
        ::unlink(tmp.c_str());
        throw file_error(name + ": " + step + ": " + errno_text(err));
    };
    for (auto piece : pieces) {
        const std::byte* p = piece.data();
        std::size_t left = piece.size();
        while (left > 0) {
            const ssize_t n = ::write(fd, p, left);
            if (n < 0) {
                if (errno == EINTR) continue;
                fail("cannot write", errno);
            }
            p += n;
            left -= static_cast<std::size_t>(n);
        }
    }
    if (::fsync(fd) != 0) fail("cannot flush (fsync)", errno);
    if (int err = guard.close_now(); err != 0) fail("cannot close", err);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw file_error(name + ": cannot rename the temporary file into place: " + errno_text(err));
    }
}

}  // namespace detail
}  // namespace mir::io
