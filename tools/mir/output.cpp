#include "output.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <system_error>
#include <utility>

namespace mir::tool {

namespace fs = std::filesystem;

namespace {

bool is_stdout(const std::string& path) { return path == "-"; }

std::string describe(const std::string& path) { return is_stdout(path) ? "stdout" : path; }

std::string cannot_write(const std::string& path, const std::string& what, const std::string& why) {
    return describe(path) + ": cannot write" + (what.empty() ? "" : " " + what) + (why.empty() ? "" : ": " + why);
}

std::string errno_text(int e) { return std::strerror(e); }

// An existing path that is not a regular file (a device, a pipe) is written in place: it cannot be replaced.
bool written_in_place(const fs::path& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

// The same file: equal canonical paths, or (both existing) equal device and inode.
struct identity {
    fs::path canonical;
    bool exists = false;
    dev_t dev = 0;
    ino_t ino = 0;
};

identity identify(const fs::path& p) {
    identity id;
    std::error_code ec;
    id.canonical = fs::weakly_canonical(fs::absolute(p, ec), ec);
    if (ec) id.canonical = fs::absolute(p, ec).lexically_normal();
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0) {
        id.exists = true;
        id.dev = st.st_dev;
        id.ino = st.st_ino;
    }
    return id;
}

bool same(const identity& a, const identity& b) {
    return a.canonical == b.canonical || (a.exists && b.exists && a.dev == b.dev && a.ino == b.ino);
}

void write_all(int fd, std::string_view doc) {
    const char* p = doc.data();
    std::size_t left = doc.size();
    while (left > 0) {
        const ssize_t n = ::write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw std::system_error(n < 0 ? errno : ENOSPC, std::generic_category());
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

/// What a write to `p` reaches: `p` itself, or, where `p` is a symbolic
/// link (a chain of them), the file the last one names (which need not
/// exist yet, as for the shell's `>`). The temporary file goes beside that
/// file and is renamed over it, so the link stays a link.
fs::path link_target(const fs::path& p, const std::string& where) {
    fs::path at = p;
    for (int hops = 0; hops < 40; ++hops) {
        std::error_code ec;
        if (!fs::is_symlink(fs::symlink_status(at, ec))) return at;
        const fs::path next = fs::read_symlink(at, ec);
        if (ec) throw file_error(where + ": cannot read the symbolic link '" + at.string() + "': " + ec.message());
        at = next.is_absolute() ? next : at.parent_path() / next;
    }
    throw file_error(where + ": too many levels of symbolic links (a loop?)");
}

}  // namespace

output_set::output_set() {
    const mode_t mask = ::umask(0);  // read it back: the files get 0666 & ~umask, as open() would give them
    ::umask(mask);
    mode_ = 0666 & ~mask;
}

output_set::~output_set() {
    for (const auto& t : temps_) {
        std::error_code ec;
        fs::remove(t, ec);
    }
}

void output_set::declare(std::string option, std::string path) {
    if (path.empty()) return;
    index_.emplace(path, entries_.size());
    entries_.push_back({std::move(option), std::move(path), "", "", {}, false, {}, {}});
}

output_set::entry& output_set::find(const std::string& path) {
    const auto it = index_.find(path);
    if (it != index_.end() && !entries_[it->second].staged) return entries_[it->second];
    throw std::logic_error("output_set: '" + path + "' was not declared");
}

void output_set::check(const std::vector<fs::path>& inputs) const {
    const entry* on_stdout = nullptr;
    std::vector<identity> ids(entries_.size());
    std::vector<identity> input_ids;
    for (const auto& in : inputs) input_ids.push_back(identify(in));
    std::map<fs::path, std::size_t> seen_paths;
    std::map<std::pair<dev_t, ino_t>, std::size_t> seen_inodes;
    for (std::size_t i = 0; i < entries_.size(); ++i) {
        const entry& e = entries_[i];
        if (is_stdout(e.path)) {
            if (on_stdout != nullptr) {
                throw usage_error(on_stdout->option + " - and " + e.option + " -: only one output can go to stdout");
            }
            on_stdout = &e;
            continue;
        }
        const fs::path p(e.path);
        const std::string where = e.option + " " + e.path;
        std::error_code ec;
        if (fs::is_directory(p, ec)) throw file_error(where + ": is a directory");
        if (written_in_place(p)) {
            if (::access(p.c_str(), W_OK) != 0) throw file_error(where + ": cannot write it: " + errno_text(errno));
        } else {
            const fs::path target = link_target(p, where);
            const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
            if (!fs::exists(dir, ec)) throw file_error(where + ": the directory '" + dir.string() + "' does not exist");
            if (!fs::is_directory(dir, ec)) throw file_error(where + ": '" + dir.string() + "' is not a directory");
            if (::access(dir.c_str(), W_OK | X_OK) != 0) {
                throw file_error(where + ": cannot create files in '" + dir.string() + "': " + errno_text(errno));
            }
        }
        ids[i] = identify(p);
        // Earlier outputs by path and by (device, inode): n log n, for synth's many files.
        auto by_path = seen_paths.emplace(ids[i].canonical, i);
        std::size_t clash = by_path.second ? entries_.size() : by_path.first->second;
        if (clash == entries_.size() && ids[i].exists) {
            auto by_inode = seen_inodes.emplace(std::make_pair(ids[i].dev, ids[i].ino), i);
            if (!by_inode.second) clash = by_inode.first->second;
        }
        if (clash != entries_.size()) {
            throw usage_error(entries_[clash].option + " " + entries_[clash].path + " and " + where +
                              " are the same file; give each output its own");
        }
        for (std::size_t k = 0; k < inputs.size(); ++k) {
            if (same(ids[i], input_ids[k])) {
                throw usage_error(where + " is the input '" + inputs[k].string() +
                                  "'; an output must not overwrite an input");
            }
        }
    }
}

void output_set::put(const std::string& path, std::string doc, std::string what) {
    entry& e = find(path);
    e.doc = std::move(doc);
    e.what = std::move(what);
    e.staged = true;
}

void output_set::put_file(const std::string& path, file_writer write, std::string what, bool now) {
    if (is_stdout(path)) throw usage_error(what + " cannot go to stdout");
    entry& e = find(path);
    e.write = std::move(write);
    e.what = std::move(what);
    e.staged = true;
    if (now && !written_in_place(e.path)) stage(e);
}

void output_set::stage(entry& e) {
    e.target = link_target(fs::path(e.path), e.path);
    const fs::path& p = e.target;
    const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
    std::string name = ".";  // built by appends: GCC 12's -Wrestrict misfires on "." + string at -O3
    name.append(p.filename().string()).append(".mir-XXXXXX");
    std::string tmpl = (dir / name).string();
    const int fd = ::mkstemp(tmpl.data());
    if (fd < 0) throw file_error(cannot_write(e.path, e.what, "cannot create a temporary file: " + errno_text(errno)));
    e.temp = tmpl;
    temps_.push_back(e.temp);
    try {
        if (::fchmod(fd, mode_) != 0) throw std::system_error(errno, std::generic_category());
        if (!e.write) write_all(fd, e.doc);
    } catch (const std::system_error& x) {
        ::close(fd);
        throw file_error(cannot_write(e.path, e.what, x.code().message()));
    }
    if (::close(fd) != 0) throw file_error(cannot_write(e.path, e.what, errno_text(errno)));
    if (e.write) {
        try {
            e.write(e.temp);
        } catch (const error& x) {
            // The writer's message names the temporary file: name the target instead.
            std::string why = x.what();
            for (std::size_t at; (at = why.find(e.temp.string())) != std::string::npos;) {
                why.replace(at, e.temp.string().size(), e.path);
            }
            if (why.rfind(e.path + ": ", 0) == 0) why.erase(0, e.path.size() + 2);
            throw file_error(cannot_write(e.path, e.what, why));
        }
        e.write = nullptr;  // written: release what it holds
    }
    e.doc.clear();
    e.doc.shrink_to_fit();
}

void output_set::commit() {
    // 1. Every file that replaces its target: a complete temporary file beside it.
    for (auto& e : entries_) {
        if (e.staged && !is_stdout(e.path) && e.temp.empty() && !written_in_place(e.path)) stage(e);
    }
    // 2. Targets written in place (devices, pipes), then stdout.
    for (auto& e : entries_) {
        if (!e.staged || is_stdout(e.path) || !e.temp.empty()) continue;
        if (e.write) {
            e.write(e.path);
            continue;
        }
        const int fd = ::open(e.path.c_str(), O_WRONLY | O_TRUNC);
        if (fd < 0) throw file_error(cannot_write(e.path, e.what, errno_text(errno)));
        try {
            write_all(fd, e.doc);
        } catch (const std::system_error& x) {
            ::close(fd);
            throw file_error(cannot_write(e.path, e.what, x.code().message()));
        }
        if (::close(fd) != 0) throw file_error(cannot_write(e.path, e.what, errno_text(errno)));
    }
    for (auto& e : entries_) {
        if (!e.staged || !is_stdout(e.path)) continue;
        if (std::fwrite(e.doc.data(), 1, e.doc.size(), stdout) != e.doc.size() || std::fflush(stdout) != 0) {
            throw file_error(cannot_write(e.path, e.what, errno_text(errno)));
        }
    }
    // 3. Every temporary file over its target.
    for (auto& e : entries_) {
        if (e.temp.empty()) continue;
        std::error_code ec;
        fs::rename(e.temp, e.target, ec);
        if (ec) throw file_error(cannot_write(e.path, e.what, ec.message()));
        e.temp.clear();
    }
    temps_.clear();  // every one renamed
    entries_.clear();
    index_.clear();
}

void write_output(const std::string& path, std::string_view doc, std::string_view what) {
    output_set out;
    out.declare("", path);
    out.put(path, std::string(doc), std::string(what));
    out.commit();
}

std::string json_text(const nlohmann::ordered_json& j) { return j.dump(2) + "\n"; }

void check_stdout() {
    errno = 0;
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
        const int e = errno;
        throw file_error("stdout: cannot write the output" + (e != 0 ? ": " + errno_text(e) : std::string()));
    }
}

}  // namespace mir::tool
