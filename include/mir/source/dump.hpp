// mir/source/dump.hpp — hidden-state dump files (SPEC §7): layout detection
// and per-layer row access, for the program and for library users alike.
// The file formats themselves are mir/io/ (this header needs mir::io).
//
//   per-sample  hidden_states [K+1, T, d] (F16/BF16/F32/F64)
//               vision_mask   [T]        (BOOL or U8, 1 = vision)
//               text_mask     [T]        optional (BOOL or U8, 1 = text):
//                                        with it, positions in neither
//                                        mask are ignored (SPEC §6–7)
//   pre-split   vision [K+1, r, d] and text [K+1, s, d]
//
// .safetensors files are memory-mapped and read in place (a layer is one
// contiguous slice); of an .npz file only the masks on open and the
// members holding the rows on first use are inflated (other members never
// are). Either way a dump_file holds one
// file; close it (or let it go) to release the memory.
//
// What opening found (the layout, the tensors' places, the mask) is kept in
// an immutable index that reopen() shares: a reopened dump_file maps the
// safetensors file again (refusing a file that changed since) or inflates
// the npz members again from the archive kept open, without parsing a
// header or reading a directory again. dump_source reopens its files this
// way on every pass.
//
// Every dimension is checked before it is narrowed: K + 1 must fit an int,
// and row counts index_t.
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <unordered_map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/io/format.hpp"
#include "mir/io/tensor.hpp"
#include "mir/io/tensor_file.hpp"
#include "mir/mask.hpp"

namespace mir {

using io::file_dtype;
using io::tensor_view;

enum class dump_layout { per_sample, pre_split };

constexpr std::string_view to_string(dump_layout l) noexcept {
    return l == dump_layout::per_sample ? "per-sample (hidden_states + vision_mask [+ text_mask])"
                                        : "pre-split (vision + text)";
}

namespace detail {

inline std::string describe_tensors(const std::vector<tensor_view>& ts) {
    std::string s;
    for (const auto& t : ts) {
        if (!s.empty()) s += ", ";
        s += t.name + " " + std::string(to_string(t.dtype)) + " [";
        for (std::size_t i = 0; i < t.shape.size(); ++i) s += (i ? ", " : "") + std::to_string(t.shape[i]);
        s += "]";
    }
    return s.empty() ? "no tensors" : s;
}

}  // namespace detail

/// One dump file with its layout detected and validated.
class dump_file {
public:
    /// Opens a .safetensors or .npz file; throws mir::file_error naming the
    /// file and what is wrong (unknown layout: the tensors found and the
    /// layouts expected).
    static dump_file open(const std::filesystem::path& path) { return open(io::tensor_file::open(path)); }
    /// The same from a file already open (e.g. after listing its tensors).
    static dump_file open(io::tensor_file file) {
        auto info = std::make_shared<index>();
        info->path = file.path();
        info->id = file.id();
        info->format = file.format();
        info->archive = file.archive();
        detect(file, *info);
        dump_file f;
        f.info_ = std::move(info);
        f.file_.emplace(std::move(file));  // the rows are loaded on first use (an npz member inflated)
        f.load_mutex_ = std::make_unique<std::mutex>();
        return f;
    }

    /// A dump_file over the same index, with the data made available again:
    /// the safetensors file mapped again (mir::file_error if it changed since
    /// it was opened: its size, modification time or inode differ), the npz
    /// members inflated again. No header is parsed, no directory read.
    [[nodiscard]] dump_file reopen() const {
        if (!info_) throw argument_error("dump_file::reopen: the dump_file was never opened");
        dump_file f;
        f.info_ = info_;
        const index& x = *info_;
        if (x.format == io::file_format::safetensors) {
            f.map_ = io::mapped_file::open(x.path);
            if (!(f.map_.id() == x.id)) {
                throw file_error(x.path.string() + ": the file changed since it was opened (size, modification "
                                 "time or inode differ); do not rewrite dumps while mir reads them");
            }
            for (std::size_t i = 0; i < x.row_tensors.size(); ++i) {
                tensor_view v = x.row_tensors[i];
                v.data = f.map_.bytes().data() + x.row_offsets[i];
                f.live_.push_back(std::move(v));
            }
        } else {
            for (const auto& t : x.row_tensors) {
                f.arrays_.push_back(x.archive->read(t.name));
                tensor_view v = t;
                v.data = f.arrays_.back().data.data();
                v.nbytes = f.arrays_.back().data.size();
                f.live_.push_back(std::move(v));
            }
        }
        return f;
    }

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return info_->path; }
    [[nodiscard]] dump_layout layout() const noexcept { return info_->layout; }
    /// Hidden-state indices in the file (K + 1; index 0 = embeddings).
    [[nodiscard]] int num_indices() const noexcept { return info_->indices; }
    [[nodiscard]] index_t hidden_size() const noexcept { return info_->dim; }
    /// Rows per layer in each set; per-sample files: tokens() =
    /// vision_rows() + text_rows() + ignored_rows().
    [[nodiscard]] index_t vision_rows() const noexcept { return info_->vision_rows; }
    [[nodiscard]] index_t text_rows() const noexcept { return info_->text_rows; }
    /// Positions in neither set (per-sample files with a text_mask only).
    [[nodiscard]] index_t ignored_rows() const noexcept { return info_->ignored_rows; }
    /// Token positions per layer (vision + text + ignored).
    [[nodiscard]] index_t tokens() const noexcept {
        return info_->vision_rows + info_->text_rows + info_->ignored_rows;
    }
    /// Whether the file has a text_mask (per-sample files only).
    [[nodiscard]] bool has_text_mask() const noexcept { return info_->has_text_mask; }
    /// Every tensor in the file (unrelated ones included): names, dtypes and
    /// shapes; their data are reached through visit_* only.
    [[nodiscard]] const std::vector<tensor_view>& tensors() const noexcept { return info_->tensors; }
    /// Element type of the hidden states.
    [[nodiscard]] file_dtype dtype() const noexcept { return info_->dtype; }

    /// Calls sink(is_vision, row_view<T>) for the rows of hidden-state index
    /// k: per-sample files in runs of one role (ignored positions are left
    /// out), pre-split files as one vision and one text block.
    template <class Sink>
    void visit_layer(int k, Sink&& sink) const {
        if (layout() == dump_layout::per_sample) {
            visit_hidden_rows(k, [&](const auto& rows) {
                for_each_role_run(roles(), [&](index_t b, index_t e, token_role r) {
                    if (r != token_role::ignored) sink(r == token_role::vision, rows.middle_rows(b, e - b));
                });
            });
        } else {
            visit_split_rows(k, [&](const auto& vision, const auto& text) {
                sink(true, vision);
                sink(false, text);
            });
        }
    }

    /// Per-sample files: fn(row_view<T>) with the T token rows of
    /// hidden-state index k, in the file's memory (no copy).
    template <class Fn>
    void visit_hidden_rows(int k, Fn&& fn) const {
        check_layer(k);
        if (layout() != dump_layout::per_sample) fail("visit_hidden_rows: the file is pre-split (use visit_split_rows)");
        const index_t tokens = this->tokens();
        visit_rows(live(0), static_cast<std::int64_t>(k) * tokens, tokens, std::forward<Fn>(fn));
    }

    /// Pre-split files: fn(vision row_view, text row_view) of hidden-state
    /// index k, in the file's memory (no copy).
    template <class Fn>
    void visit_split_rows(int k, Fn&& fn) const {
        check_layer(k);
        if (layout() != dump_layout::pre_split) fail("visit_split_rows: the file is per-sample (use visit_hidden_rows)");
        const index_t vr = info_->vision_rows, tr = info_->text_rows;
        visit_rows(live(0), static_cast<std::int64_t>(k) * vr, vr, [&](const auto& vision) {
            visit_rows(live(1), static_cast<std::int64_t>(k) * tr, tr, [&](const auto& text) { fn(vision, text); });
        });
    }

    /// The vision mask of a per-sample file (empty for pre-split files);
    /// kept with the index, valid after close().
    [[nodiscard]] std::span<const std::uint8_t> mask() const noexcept { return info_->mask; }
    /// The role of each token position of a per-sample file (from
    /// vision_mask and text_mask; empty for pre-split files).
    [[nodiscard]] std::span<const token_role> roles() const noexcept { return info_->roles; }

    /// Releases the mapping / the inflated arrays; the index stays (the
    /// layout, tensors(), mask(), and reopen()).
    void close() noexcept {
        live_.clear();
        arrays_.clear();
        map_.close();
        if (file_) file_->close();
        file_.reset();
    }

private:
    /// What opening the file found; shared by every reopening.
    struct index {
        std::filesystem::path path;
        io::file_id id;
        io::file_format format = io::file_format::safetensors;
        std::shared_ptr<const io::npz_file> archive;  // npz: open for reopen()
        std::vector<tensor_view> tensors;              // the whole table, without data
        std::vector<std::string> rows;                 // hidden_states, or vision + text
        std::vector<tensor_view> row_tensors;          // those, without data
        std::vector<std::uint64_t> row_offsets;        // safetensors: where their data begin
        std::vector<std::uint8_t> mask;                // vision_mask, 0 / 1
        std::vector<token_role> roles;                 // per-sample: vision, text or ignored
        bool has_text_mask = false;
        dump_layout layout = dump_layout::per_sample;
        file_dtype dtype = file_dtype::f32;
        int indices = 0;
        index_t dim = 0, vision_rows = 0, text_rows = 0, ignored_rows = 0;
    };

    dump_file() = default;

    [[noreturn]] static void fail_at(const std::filesystem::path& p, const std::string& what) {
        throw file_error(p.string() + ": " + what);
    }
    [[noreturn]] void fail(const std::string& what) const { fail_at(info_->path, what); }

    /// Row tensor i with its data. A dump_file from open() loads them on
    /// first use (so that `mir inspect` and dump_source::open never inflate
    /// an npz's hidden states), under a lock: visits may run on threads.
    const tensor_view& live(std::size_t i) const {
        if (file_) {
            std::lock_guard lock(*load_mutex_);
            if (live_.empty()) {
                for (const auto& name : info_->rows) live_.push_back(file_->load(name));
            }
        }
        if (i >= live_.size()) fail("the file was closed (reopen() it)");
        return live_[i];
    }

    void check_layer(int k) const {
        if (k < 0 || k >= info_->indices) {
            throw argument_error(info_->path.string() + ": layer " + std::to_string(k) + " is outside 0.." +
                                 std::to_string(info_->indices - 1));
        }
    }

    /// dims [K+1, rows, d]: checked against the types they are narrowed to
    /// (int for K + 1, index_t for the others) before anything uses them.
    static void require_hidden(const std::filesystem::path& p, const tensor_view& t, std::string_view role) {
        if (!is_floating(t.dtype)) {
            fail_at(p, "tensor '" + t.name + "' has dtype " + std::string(to_string(t.dtype)) + "; " +
                           std::string(role) + " must be F16, BF16, F32 or F64");
        }
        if (t.shape.size() != 3) {
            fail_at(p, "tensor '" + t.name + "' has " + std::to_string(t.shape.size()) +
                           " dimensions; expected 3: [layers (K+1), tokens, hidden size]");
        }
        if (t.shape[0] < 1 || t.shape[2] < 1) {
            fail_at(p, "tensor '" + t.name + "' has shape " + io::detail::shape_string(t.shape) +
                           "; expected at least one layer and a positive hidden size");
        }
        static constexpr const char* names[] = {"0 (hidden-state indices, K + 1)", "1 (rows)", "2 (hidden size)"};
        const std::int64_t limits[] = {std::numeric_limits<int>::max(), std::numeric_limits<index_t>::max(),
                                       std::numeric_limits<index_t>::max()};
        for (std::size_t i = 0; i < 3; ++i) {
            if (t.shape[i] > limits[i]) {
                fail_at(p, "tensor '" + t.name + "' has shape " + io::detail::shape_string(t.shape) + ": dimension " +
                               names[i] + " is " + std::to_string(t.shape[i]) + ", more than the " +
                               std::to_string(limits[i]) + " this reader supports");
            }
        }
    }

    /// A mask tensor [tokens] of BOOL or U8 entries 0 / 1, checked and copied.
    static std::vector<std::uint8_t> read_mask(io::tensor_file& file, const std::filesystem::path& p,
                                               const tensor_view& m, std::int64_t tokens) {
        const std::string name = "tensor '" + m.name + "'";
        if (m.dtype != file_dtype::boolean && m.dtype != file_dtype::u8) {
            fail_at(p, name + " has dtype " + std::string(to_string(m.dtype)) + "; expected BOOL or U8");
        }
        if (m.shape.size() != 1 || m.shape[0] != tokens) {
            fail_at(p, name + " has " +
                           (m.shape.size() == 1 ? std::to_string(m.shape[0]) + " entries"
                                                : std::to_string(m.shape.size()) + " dimensions") +
                           " but hidden_states has " + std::to_string(tokens) + " tokens");
        }
        const tensor_view& mv = file.load(m.name);
        if (mv.nbytes != static_cast<std::uint64_t>(m.shape[0])) {
            fail_at(p, name + " holds " + std::to_string(mv.nbytes) + " bytes for " + std::to_string(m.shape[0]) +
                           " entries");
        }
        std::vector<std::uint8_t> out(mv.nbytes);
        for (std::size_t i = 0; i < mv.nbytes; ++i) {
            const auto b = static_cast<std::uint8_t>(mv.data[i]);
            if (b > 1) fail_at(p, m.name + "[" + std::to_string(i) + "] is " + std::to_string(b) + "; expected 0 or 1");
            out[i] = b;
        }
        return out;
    }

    static void detect(io::tensor_file& file, index& x) {
        const auto& p = x.path;
        const tensor_view* h = file.find("hidden_states");
        const tensor_view* m = file.find("vision_mask");
        const tensor_view* v = file.find("vision");
        const tensor_view* t = file.find("text");
        const bool per_sample = h && m, pre_split = v && t;
        if (per_sample && pre_split) {
            fail_at(p, "ambiguous layout: the file has both hidden_states + vision_mask and vision + text");
        }
        if (!per_sample && !pre_split) {
            fail_at(p, "unknown dump layout; found " + detail::describe_tensors(file.tensors()) +
                           "; expected either hidden_states [K+1, T, d] + vision_mask [T] (per-sample) or "
                           "vision [K+1, r, d] + text [K+1, s, d] (pre-split)");
        }
        if (per_sample) {
            x.layout = dump_layout::per_sample;
            require_hidden(p, *h, "hidden states");
            x.indices = static_cast<int>(h->shape[0]);
            x.dim = static_cast<index_t>(h->shape[2]);
            x.dtype = h->dtype;
            x.rows = {"hidden_states"};
            x.mask = read_mask(file, p, *m, h->shape[1]);
            std::vector<std::uint8_t> text;
            if (const tensor_view* tm = file.find("text_mask")) {
                text = read_mask(file, p, *tm, h->shape[1]);
                x.has_text_mask = true;
            }
            try {
                x.roles = token_roles(std::span<const std::uint8_t>(x.mask), std::span<const std::uint8_t>(text));
            } catch (error& e) {
                e.in_file(p.string()).in_tensor("text_mask");
                throw;
            }
            for (const token_role r : x.roles) {
                (r == token_role::vision ? x.vision_rows : r == token_role::text ? x.text_rows : x.ignored_rows) += 1;
            }
        } else {
            x.layout = dump_layout::pre_split;
            require_hidden(p, *v, "vision rows");
            require_hidden(p, *t, "text rows");
            if (v->shape[0] != t->shape[0] || v->shape[2] != t->shape[2]) {
                fail_at(p, "tensors 'vision' [" + std::to_string(v->shape[0]) + ", _, " + std::to_string(v->shape[2]) +
                               "] and 'text' [" + std::to_string(t->shape[0]) + ", _, " + std::to_string(t->shape[2]) +
                               "] differ in layers or hidden size");
            }
            if (v->dtype != t->dtype) {
                fail_at(p, "tensors 'vision' (" + std::string(to_string(v->dtype)) + ") and 'text' (" +
                               std::string(to_string(t->dtype)) + ") differ in dtype");
            }
            x.indices = static_cast<int>(v->shape[0]);
            x.dim = static_cast<index_t>(v->shape[2]);
            x.dtype = v->dtype;
            x.vision_rows = static_cast<index_t>(v->shape[1]);
            x.text_rows = static_cast<index_t>(t->shape[1]);
            x.rows = {"vision", "text"};
            if (file.find("text_mask")) {
                fail_at(p,
                        "tensor 'text_mask' belongs to the per-sample layout (hidden_states + vision_mask); a "
                        "pre-split file's 'text' holds the text rows already");
            }
        }
        if (x.vision_rows == 0) fail_at(p, "no vision rows (every vision_mask entry is 0, or 'vision' has no rows)");
        if (x.text_rows == 0) {
            fail_at(p, x.has_text_mask ? "no text rows (every text_mask entry is 0 where vision_mask is 0)"
                                       : "no text rows (every vision_mask entry is 1, or 'text' has no rows)");
        }
        x.tensors = file.tensors();
        for (auto& tv : x.tensors) tv.data = nullptr;
        for (const auto& name : x.rows) {
            x.row_tensors.push_back(*file.find(name));
            x.row_offsets.push_back(file.offset_of(*file.find(name)));
        }
        for (auto& tv : x.row_tensors) tv.data = nullptr;
    }

    std::shared_ptr<const index> info_;
    mutable std::optional<io::tensor_file> file_;  // open(): the file as opened
    std::unique_ptr<std::mutex> load_mutex_;       // open(): guards the first load
    io::mapped_file map_;                          // reopen() of a safetensors file
    std::vector<io::npy_array> arrays_;            // reopen() of an npz file
    mutable std::vector<tensor_view> live_;        // the row tensors, with data
};

namespace detail {

/// "a symlink loop" for ELOOP, else the system's words.
inline std::string path_error_text(const std::error_code& ec) {
    if (ec == std::errc::too_many_symbolic_link_levels) return "is a symlink loop (too many levels of symbolic links)";
    if (ec == std::errc::no_such_file_or_directory) return "no such file or directory";
    return ec.message();
}

}  // namespace detail

/// Expands inputs: a directory stands for its .safetensors and .npz files in
/// name order; files are kept in argument order. Throws mir::file_error for
/// a missing path, a symlink loop, a directory that cannot be read or holds
/// no dumps, and for one file reached twice (the same argument twice, a file
/// and its directory, two links to one file: compared by device and inode),
/// naming both arguments.
inline std::vector<std::filesystem::path> expand_inputs(const std::vector<std::filesystem::path>& inputs) {
    namespace fs = std::filesystem;
    std::vector<fs::path> out;
    std::vector<std::size_t> from;  // the argument each file came from
    for (std::size_t a = 0; a < inputs.size(); ++a) {
        const auto& p = inputs[a];
        std::error_code ec;
        const fs::file_status st = fs::status(p, ec);
        if (ec || !fs::exists(st)) {
            if (!ec) ec = std::make_error_code(std::errc::no_such_file_or_directory);
            throw file_error(p.string() + ": " + detail::path_error_text(ec));
        }
        if (fs::is_directory(st)) {
            std::vector<fs::path> found;
            fs::directory_iterator it(p, ec);
            for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
                const fs::path& e = it->path();
                if (!io::holds_dumps(io::format_of(e))) continue;
                std::error_code eec;
                const fs::file_status est = fs::status(e, eec);
                if (eec && eec != std::errc::no_such_file_or_directory) {
                    throw file_error(e.string() + ": " + detail::path_error_text(eec) + " (in directory " + p.string() + ")");
                }
                if (!eec && fs::is_regular_file(est)) found.push_back(e);
            }
            if (ec) throw file_error(p.string() + ": cannot read the directory: " + detail::path_error_text(ec));
            if (found.empty()) throw file_error(p.string() + ": directory holds no " + std::string(io::dump_extensions) + " files");
            std::sort(found.begin(), found.end());
            out.insert(out.end(), found.begin(), found.end());
            from.insert(from.end(), found.size(), a);
        } else {
            out.push_back(p);
            from.push_back(a);
        }
    }
    if (out.empty()) throw file_error("no input files");
    // One sample counted twice changes the MIR without a word: refuse it.
    struct key_hash {
        std::size_t operator()(const std::pair<std::uint64_t, std::uint64_t>& k) const noexcept {
            return std::hash<std::uint64_t>{}(k.first * 0x9e3779b97f4a7c15ULL ^ k.second);
        }
    };
    std::unordered_map<std::pair<std::uint64_t, std::uint64_t>, std::size_t, key_hash> seen;
    for (std::size_t i = 0; i < out.size(); ++i) {
        struct stat sb {};
        if (::stat(out[i].c_str(), &sb) != 0) continue;  // opening it will name the error
        const auto [it, fresh] = seen.emplace(std::pair<std::uint64_t, std::uint64_t>(sb.st_dev, sb.st_ino), i);
        if (fresh) continue;
        const std::size_t j = it->second;
        auto arg = [&](std::size_t k) {
            const auto& given = inputs[from[k]];
            return given == out[k] ? "'" + given.string() + "'"
                                   : "'" + out[k].string() + "' (from argument '" + given.string() + "')";
        };
        throw file_error(arg(i) + " and " + arg(j) +
                         " are the same file; give each dump once (it would be counted twice)");
    }
    return out;
}

}  // namespace mir
