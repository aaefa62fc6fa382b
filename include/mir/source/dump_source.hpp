// mir/source/dump_source.hpp — the dump files of SPEC §7 as a hidden-state
// source (one file = one sample), shared by the library and the mir
// program: opening checks that every file comes from the same model (same
// number of hidden-state indices and hidden size); samples and layers are
// read from memory-mapped files, one file open at a time. Each file's table
// (safetensors header, npz directory) is read once, by open(): what it found
// is kept (dump_file's index), and every later pass reopens the file from
// it (a mapping, or the used npz members inflated) without parsing again.
//
//   feed_sample(n, sink)   sample n into a hidden_state_sink (streaming,
//                          every layer of one file at a time)
//   replay_layer(k, fn)    layer k of every file, for compute_layer_multipass
//                          (exact in bounded memory: what `mir compute` does);
//                          with on_file(i) told before file i's rows (the
//                          jackknife's groups of samples)
#pragma once

#include <filesystem>
#include <limits>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/source/dump.hpp"
#include "mir/source/sink.hpp"
#include "mir/source/source.hpp"

namespace mir {

namespace detail {
/// An allocation failure while a file (and a layer) was being processed, named.
inline error out_of_memory(const std::filesystem::path& file, int layer, const char* doing) {
    return error(error_kind::file, std::string("out of memory (std::bad_alloc) ") + doing,
                 {file.string(), "", -1, layer});
}
}  // namespace detail

class dump_source {
public:
    /// Opens every file (directories expand to their dumps, see
    /// expand_inputs) to read its header and check it against the first;
    /// the headers are not read again.
    static dump_source open(const std::vector<std::filesystem::path>& inputs) {
        dump_source s;
        s.files_ = expand_inputs(inputs);
        s.cache_.reserve(s.files_.size());
        for (const auto& f : s.files_) {
            dump_file d = [&] {
                try {
                    return dump_file::open(f);
                } catch (const std::bad_alloc&) {
                    throw detail::out_of_memory(f, -1, "opening it");
                }
            }();
            if (s.num_indices_ == 0) {
                s.num_indices_ = d.num_indices();
                s.hidden_size_ = d.hidden_size();
            } else if (d.num_indices() != s.num_indices_) {
                throw file_error(f.string() + ": " + std::to_string(d.num_indices()) + " hidden-state indices, but " +
                                 s.files_.front().string() + " has " + std::to_string(s.num_indices_) +
                                 " (every file must come from the same model)");
            } else if (d.hidden_size() != s.hidden_size_) {
                throw file_error(f.string() + ": hidden size " + std::to_string(d.hidden_size()) + ", but " +
                                 s.files_.front().string() + " has " + std::to_string(s.hidden_size_));
            }
            if (d.vision_rows() > std::numeric_limits<index_t>::max() - s.vision_rows_ ||
                d.text_rows() > std::numeric_limits<index_t>::max() - s.text_rows_) {
                throw file_error(f.string() + ": the row counts over all files overflow");
            }
            s.vision_rows_ += d.vision_rows();
            s.text_rows_ += d.text_rows();
            d.close();  // keep the index only: one file's data in memory at a time
            s.cache_.push_back(std::move(d));
        }
        return s;
    }
    static dump_source open(const std::filesystem::path& input) {
        return open(std::vector<std::filesystem::path>{input});
    }

    [[nodiscard]] int num_indices() const noexcept { return num_indices_; }
    [[nodiscard]] index_t hidden_size() const noexcept { return hidden_size_; }
    [[nodiscard]] index_t num_samples() const noexcept { return static_cast<index_t>(files_.size()); }
    [[nodiscard]] const std::vector<std::filesystem::path>& files() const noexcept { return files_; }
    /// Rows of each modality per layer, over all files.
    [[nodiscard]] index_t vision_rows() const noexcept { return vision_rows_; }
    [[nodiscard]] index_t text_rows() const noexcept { return text_rows_; }
    /// What opening each file found (closed: layout, dtype, row counts), in files() order.
    [[nodiscard]] const std::vector<dump_file>& dump_files() const noexcept { return cache_; }

    /// Pushes file n, every layer the sink wants, into the sink.
    void feed_sample(index_t n, hidden_state_sink& sink) const {
        const auto& path = files_.at(static_cast<std::size_t>(n));
        const dump_file f = cache_.at(static_cast<std::size_t>(n)).reopen();
        try {
            if (f.layout() == dump_layout::per_sample) {
                sink.begin_sample(vision_positions::from_roles(f.roles(), f.has_text_mask()));
                for (int k = 0; k < num_indices_; ++k) {
                    if (sink.wants(k)) f.visit_hidden_rows(k, [&](const auto& rows) { sink.push(k, rows); });
                }
            } else {
                sink.begin_sample();
                for (int k = 0; k < num_indices_; ++k) {
                    if (sink.wants(k)) {
                        f.visit_split_rows(k, [&](const auto& v, const auto& t) { sink.push_split(k, v, t); });
                    }
                }
            }
            sink.end_sample();
        } catch (error& e) {
            e.in_file(path.string());
            throw;
        } catch (const std::bad_alloc&) {
            throw detail::out_of_memory(path, -1, "reading the sample");
        }
    }

    /// Calls sink(is_vision, rows) for every row of hidden-state index k in
    /// every file, in file order, one file mapped at a time; the same rows in
    /// the same order on every call (what compute_layer_multipass needs).
    template <class Sink>
    void replay_layer(int k, Sink&& sink) const {
        replay_layer(k, sink, [](std::size_t) {});
    }

    /// The same, calling on_file(i) before the rows of file i (0-based, in
    /// file order): how a grouped jackknife (mir/metric/uncertainty.hpp)
    /// learns which sample the rows that follow belong to.
    template <class Sink, class OnFile>
    void replay_layer(int k, Sink&& sink, OnFile&& on_file) const {
        for (std::size_t i = 0; i < cache_.size(); ++i) {
            on_file(i);
            const dump_file f = cache_[i].reopen();
            try {
                f.visit_layer(k, sink);
            } catch (non_finite_error& e) {
                e.in_file(f.path().string());  // its row index counts rows across the files so far
                throw;
            } catch (const std::bad_alloc&) {
                throw detail::out_of_memory(f.path(), k, "processing the layer's rows");
            }
        }
    }

private:
    dump_source() = default;

    std::vector<std::filesystem::path> files_;
    std::vector<dump_file> cache_;  // closed: what opening each file found
    int num_indices_ = 0;
    index_t hidden_size_ = 0;
    index_t vision_rows_ = 0;
    index_t text_rows_ = 0;
};

static_assert(hidden_state_source<dump_source>);

}  // namespace mir
