// mir/source/dump.hpp — hidden-state dump files (SPEC §7): layout detection
// and per-layer row access, for the program and for library users alike.
// The file formats themselves are mir/io/ (this header needs mir::io).
//
//   per-sample  hidden_states [K+1, T, d] (F16/BF16/F32/F64)
//               vision_mask   [T]        (BOOL or U8, 1 = vision)
//   pre-split   vision [K+1, r, d] and text [K+1, s, d]
//
// .safetensors files are memory-mapped and read in place (a layer is one
// contiguous slice); .npz files are decompressed on open. Either way a
// dump_file holds one file; close it (or let it go) to release the memory.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <optional>
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
    return l == dump_layout::per_sample ? "per-sample (hidden_states + vision_mask)" : "pre-split (vision + text)";
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
        dump_file f(std::move(file));
        f.detect();
        return f;
    }

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return file_.path(); }
    [[nodiscard]] dump_layout layout() const noexcept { return layout_; }
    /// Hidden-state indices in the file (K + 1; index 0 = embeddings).
    [[nodiscard]] int num_indices() const noexcept { return indices_; }
    [[nodiscard]] index_t hidden_size() const noexcept { return dim_; }
    [[nodiscard]] index_t vision_rows() const noexcept { return vision_rows_; }
    [[nodiscard]] index_t text_rows() const noexcept { return text_rows_; }
    /// Every tensor in the file (unrelated ones included).
    [[nodiscard]] const std::vector<tensor_view>& tensors() const noexcept { return file_.tensors(); }
    /// Element type of the hidden states.
    [[nodiscard]] file_dtype dtype() const noexcept { return dtype_; }

    /// Calls sink(is_vision, row_view<T>) for the rows of hidden-state index
    /// k: per-sample files in runs of equal mask value, pre-split files as
    /// one vision and one text block.
    template <class Sink>
    void visit_layer(int k, Sink&& sink) const {
        if (layout_ == dump_layout::per_sample) {
            visit_hidden_rows(k, [&](const auto& rows) {
                for_each_mask_run(mask(), [&](index_t b, index_t e, bool vision) {
                    sink(vision, rows.middle_rows(b, e - b));
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
        if (layout_ != dump_layout::per_sample) fail("visit_hidden_rows: the file is pre-split (use visit_split_rows)");
        const tensor_view& h = *file_.find("hidden_states");
        const index_t tokens = vision_rows_ + text_rows_;
        visit_rows(h, static_cast<std::int64_t>(k) * tokens, tokens, std::forward<Fn>(fn));
    }

    /// Pre-split files: fn(vision row_view, text row_view) of hidden-state
    /// index k, in the file's memory (no copy).
    template <class Fn>
    void visit_split_rows(int k, Fn&& fn) const {
        check_layer(k);
        if (layout_ != dump_layout::pre_split) fail("visit_split_rows: the file is per-sample (use visit_hidden_rows)");
        const tensor_view& v = *file_.find("vision");
        const tensor_view& t = *file_.find("text");
        visit_rows(v, static_cast<std::int64_t>(k) * vision_rows_, vision_rows_, [&](const auto& vision) {
            visit_rows(t, static_cast<std::int64_t>(k) * text_rows_, text_rows_,
                       [&](const auto& text) { fn(vision, text); });
        });
    }

    /// The vision mask of a per-sample file (empty for pre-split files).
    [[nodiscard]] std::span<const std::uint8_t> mask() const noexcept {
        if (layout_ != dump_layout::per_sample) return {};
        const tensor_view& m = *file_.find("vision_mask");
        return {reinterpret_cast<const std::uint8_t*>(m.data), m.nbytes};
    }

    /// Releases the mapping / the decompressed arrays.
    void close() noexcept {
        file_.close();
    }

private:
    explicit dump_file(io::tensor_file file) : file_(std::move(file)) {}

    [[noreturn]] void fail(const std::string& what) const { throw file_error(file_.path().string() + ": " + what); }

    void check_layer(int k) const {
        if (k < 0 || k >= indices_) {
            throw argument_error(file_.path().string() + ": layer " + std::to_string(k) + " is outside 0.." +
                                 std::to_string(indices_ - 1));
        }
    }

    void require_hidden(const tensor_view& t, std::string_view role) {
        if (!is_floating(t.dtype)) {
            fail("tensor '" + t.name + "' has dtype " + std::string(to_string(t.dtype)) + "; " + std::string(role) +
                 " must be F16, BF16, F32 or F64");
        }
        if (t.shape.size() != 3) {
            fail("tensor '" + t.name + "' has " + std::to_string(t.shape.size()) +
                 " dimensions; expected 3: [layers (K+1), tokens, hidden size]");
        }
        if (t.shape[0] < 1 || t.shape[2] < 1) {
            fail("tensor '" + t.name + "' has shape [" + std::to_string(t.shape[0]) + ", " +
                 std::to_string(t.shape[1]) + ", " + std::to_string(t.shape[2]) +
                 "]; expected at least one layer and a positive hidden size");
        }
    }

    void detect() {
        const tensor_view* h = file_.find("hidden_states");
        const tensor_view* m = file_.find("vision_mask");
        const tensor_view* v = file_.find("vision");
        const tensor_view* t = file_.find("text");
        const bool per_sample = h && m, pre_split = v && t;
        if (per_sample && pre_split) {
            fail("ambiguous layout: the file has both hidden_states + vision_mask and vision + text");
        }
        if (!per_sample && !pre_split) {
            fail("unknown dump layout; found " + detail::describe_tensors(file_.tensors()) +
                 "; expected either hidden_states [K+1, T, d] + vision_mask [T] (per-sample) or "
                 "vision [K+1, r, d] + text [K+1, s, d] (pre-split)");
        }
        if (per_sample) {
            layout_ = dump_layout::per_sample;
            require_hidden(*h, "hidden states");
            if (m->dtype != file_dtype::boolean && m->dtype != file_dtype::u8) {
                fail("tensor 'vision_mask' has dtype " + std::string(to_string(m->dtype)) + "; expected BOOL or U8");
            }
            if (m->shape.size() != 1 || m->shape[0] != h->shape[1]) {
                fail("tensor 'vision_mask' has " +
                     (m->shape.size() == 1 ? std::to_string(m->shape[0]) + " entries"
                                           : std::to_string(m->shape.size()) + " dimensions") +
                     " but hidden_states has " + std::to_string(h->shape[1]) + " tokens");
            }
            indices_ = static_cast<int>(h->shape[0]);
            dim_ = h->shape[2];
            dtype_ = h->dtype;
            for (std::size_t i = 0; i < m->nbytes; ++i) {
                const auto b = static_cast<std::uint8_t>(m->data[i]);
                if (b > 1) fail("vision_mask[" + std::to_string(i) + "] is " + std::to_string(b) + "; expected 0 or 1");
                vision_rows_ += b;
            }
            text_rows_ = h->shape[1] - vision_rows_;
        } else {
            layout_ = dump_layout::pre_split;
            require_hidden(*v, "vision rows");
            require_hidden(*t, "text rows");
            if (v->shape[0] != t->shape[0] || v->shape[2] != t->shape[2]) {
                fail("tensors 'vision' [" + std::to_string(v->shape[0]) + ", _, " + std::to_string(v->shape[2]) +
                     "] and 'text' [" + std::to_string(t->shape[0]) + ", _, " + std::to_string(t->shape[2]) +
                     "] differ in layers or hidden size");
            }
            if (v->dtype != t->dtype) {
                fail("tensors 'vision' (" + std::string(to_string(v->dtype)) + ") and 'text' (" +
                     std::string(to_string(t->dtype)) + ") differ in dtype");
            }
            indices_ = static_cast<int>(v->shape[0]);
            dim_ = v->shape[2];
            dtype_ = v->dtype;
            vision_rows_ = v->shape[1];
            text_rows_ = t->shape[1];
        }
        if (vision_rows_ == 0) fail("no vision rows (every vision_mask entry is 0, or 'vision' has no rows)");
        if (text_rows_ == 0) fail("no text rows (every vision_mask entry is 1, or 'text' has no rows)");
    }

    io::tensor_file file_;
    dump_layout layout_ = dump_layout::per_sample;
    file_dtype dtype_ = file_dtype::f32;
    int indices_ = 0;
    index_t dim_ = 0;
    index_t vision_rows_ = 0;
    index_t text_rows_ = 0;
};

/// Expands inputs: a directory stands for its .safetensors and .npz files in
/// name order; files are kept in argument order. Throws for a missing path
/// or a directory without dumps.
inline std::vector<std::filesystem::path> expand_inputs(const std::vector<std::filesystem::path>& inputs) {
    std::vector<std::filesystem::path> out;
    for (const auto& p : inputs) {
        std::error_code ec;
        if (std::filesystem::is_directory(p, ec)) {
            std::vector<std::filesystem::path> found;
            for (const auto& e : std::filesystem::directory_iterator(p)) {
                if (e.is_regular_file() && io::holds_dumps(io::format_of(e.path()))) found.push_back(e.path());
            }
            if (found.empty()) throw file_error(p.string() + ": directory holds no " + std::string(io::dump_extensions) + " files");
            std::sort(found.begin(), found.end());
            out.insert(out.end(), found.begin(), found.end());
        } else if (std::filesystem::exists(p, ec)) {
            out.push_back(p);
        } else {
            throw file_error(p.string() + ": no such file or directory");
        }
    }
    if (out.empty()) throw file_error("no input files");
    return out;
}

}  // namespace mir
