// mir/source/sink.hpp — the receiving end of a model integration: a forward
// hook (libtorch, llama.cpp's eval callback, a dump reader) pushes each
// layer's output as it appears, in any tensor type with a tensor_adapter,
// and the sink feeds the multi-layer accumulator. The model never holds all
// layers. The sink holds the accumulator's state: per chosen layer and
// modality the d × d moments, one norm per row, a few outlier candidates
// and, under replace-median, the rows for the median — all of them by
// default (median_mode::keep_rows: exact, memory growing with the samples
// like the official code's), or a bounded reservoir (median_mode::reservoir:
// flagged as an estimate once a modality outgrows it). For long runs on
// large models choose the reservoir, or the none/drop policies, which keep
// no rows (docs/api.md). Plus one copy block for tensors not read in place.
//
//     mir::hidden_state_sink sink(K + 1, d);
//     for (sample : data) {
//         sink.begin_sample(mir::vision_positions::from_mask(mask));
//         // (or from_masks(vision, text) / from_ranges(vision, text, T):
//         //  positions in neither set are ignored, SPEC §6)
//         ... in the hook of layer k:  sink.push(k, output);       // [T, d] or [1, T, d]
//         ... or in pieces:            sink.push(k, piece, first_token);
//         sink.end_sample();                                       // every chosen layer arrived?
//     }
//     mir::mir_result r = sink.finalize();
//
// Nothing is lost silently: a sample that ends with a chosen layer missing
// or short, or whose rows were refused midway (NaN), makes end_sample (or
// finalize) throw, naming the sample and layer. Errors found before any row
// is added (wrong layer, hidden size, positions) leave the sink unchanged.
#pragma once

#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mir/adapters/adapter.hpp"
#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/metric/accumulator.hpp"
#include "mir/metric/mir.hpp"
#include "mir/source/vision_positions.hpp"

namespace mir {

class hidden_state_sink {
public:
    /// num_indices: hidden-state indices K + 1 (index 0 = embeddings);
    /// hidden_size: d. Options as for mir_accumulator (layers, policy, …).
    hidden_state_sink(int num_indices, index_t hidden_size, const accumulator_options& opt = {})
        : acc_(num_indices, hidden_size, opt), pushed_(static_cast<std::size_t>(num_indices), 0),
          split_(static_cast<std::size_t>(num_indices), false) {}

    [[nodiscard]] int num_indices() const { return acc_.num_indices(); }
    [[nodiscard]] index_t hidden_size() const { return acc_.hidden_size(); }
    [[nodiscard]] const std::vector<int>& layers() const { return acc_.layers(); }
    /// Whether hidden-state index `layer` enters MIR: a hook may skip the rest.
    [[nodiscard]] bool wants(int layer) const { return acc_.wants(layer); }
    /// Samples completed so far.
    [[nodiscard]] index_t samples() const noexcept { return samples_; }
    [[nodiscard]] bool in_sample() const noexcept { return open_; }
    [[nodiscard]] const mir_accumulator& accumulator() const noexcept { return acc_; }

    /// Tokens of chosen layer `layer` pushed so far in the open sample: the
    /// first_token its next piece must start at (pushes of layers that are
    /// not chosen are ignored, so they count 0).
    [[nodiscard]] index_t tokens_pushed(int layer) const {
        if (layer < 0 || layer >= acc_.num_indices()) {
            throw argument_error("hidden-state index " + std::to_string(layer) + " is outside 0.." +
                                 std::to_string(acc_.num_indices() - 1));
        }
        return pushed_[static_cast<std::size_t>(layer)];
    }

    /// Starts a sample. Positions are needed for push(); leave them out
    /// when the layers arrive already split (push_split).
    void begin_sample(vision_positions positions = {}) {
        if (open_) throw argument_error(where() + ": begin_sample() while the sample is still open (call end_sample())");
        check_not_failed();
        pos_ = std::move(positions);
        std::fill(pushed_.begin(), pushed_.end(), 0);
        std::fill(split_.begin(), split_.end(), false);
        open_ = true;
        added_ = false;
    }

    /// Abandons the open sample (say, its forward pass failed). Allowed
    /// while none of its rows has been added; otherwise those rows cannot be
    /// taken back, so the sink marks itself failed and throws.
    void abort_sample() {
        if (!open_) throw argument_error("abort_sample() without begin_sample()");
        open_ = false;
        if (added_) {
            if (!failed_) failed_ = where() + " was aborted after some of its rows had been added";
            throw argument_error("hidden_state_sink cannot go on: " + *failed_);
        }
    }

    /// All rows of layer `layer` of the current sample (token positions
    /// 0 .. rows - 1).
    template <tensor_like X>
    void push(int layer, const X& hidden) {
        push(layer, hidden, 0);
    }

    /// Rows for token positions [first_token, first_token + rows) of the
    /// current sample; a layer's pieces arrive in token order.
    template <tensor_like X>
    void push(int layer, const X& hidden, index_t first_token) {
        check_open_layer(layer);
        if (!acc_.wants(layer)) return;
        if (!pos_.given()) {
            throw argument_error("push() needs the sample's vision positions; pass them to begin_sample(), or "
                                 "use push_split()",
                                 at(layer));
        }
        auto& done = pushed_[static_cast<std::size_t>(layer)];
        if (split_[static_cast<std::size_t>(layer)]) throw argument_error("already pushed with push_split()", at(layer));
        visit_rows(hidden, [&](const auto& rows) {
            check_cols(rows.cols, layer, "rows");
            if (first_token != done) {
                throw argument_error("rows for tokens from " + std::to_string(first_token) + " but " +
                                         std::to_string(done) + " tokens were pushed so far (pieces arrive in order, once)",
                                     at(layer));
            }
            if (pos_.tokens() >= 0 && first_token + rows.rows > pos_.tokens()) {
                throw shape_error("rows for tokens [" + std::to_string(first_token) + ", " +
                                      std::to_string(first_token + rows.rows) + ") but the sample has " +
                                      std::to_string(pos_.tokens()) + " tokens",
                                  at(layer));
            }
            guarded(layer, [&] {
                for_each_row_block(rows, [&](const auto& block, index_t b0) {
                    pos_.for_each_run(first_token + b0, block.rows, [&](index_t b, index_t e, bool vision) {
                        acc_.add_rows(layer, vision, block.middle_rows(b - first_token - b0, e - b));
                    });
                });
            });
            done += rows.rows;
        });
    }

    /// One layer of the current sample already split by modality.
    template <tensor_like XV, tensor_like XT>
    void push_split(int layer, const XV& vision, const XT& text) {
        check_open_layer(layer);
        if (!acc_.wants(layer)) return;
        if (split_[static_cast<std::size_t>(layer)] || pushed_[static_cast<std::size_t>(layer)] != 0) {
            throw argument_error("pushed twice in one sample", at(layer));
        }
        visit_rows(vision, [&](const auto& v) {
            visit_rows(text, [&](const auto& t) {
                check_cols(v.cols, layer, "vision rows");
                check_cols(t.cols, layer, "text rows");
                guarded(layer, [&] {
                    for_each_row_block(v, [&](const auto& block, index_t) { acc_.add_rows(layer, true, block); });
                    for_each_row_block(t, [&](const auto& block, index_t) { acc_.add_rows(layer, false, block); });
                });
            });
        });
        split_[static_cast<std::size_t>(layer)] = true;
    }

    /// Ends the sample: every chosen layer must have arrived, whole. A
    /// missing or short layer makes it throw (and the sink refuse to
    /// finalize: those rows would be lost silently otherwise).
    void end_sample() {
        if (!open_) throw argument_error("end_sample() without begin_sample()");
        open_ = false;
        check_not_failed();
        std::string missing;
        index_t tokens = pos_.tokens();
        for (int k : acc_.layers()) {
            const auto i = static_cast<std::size_t>(k);
            if (split_[i]) continue;
            if (tokens < 0 && pushed_[i] > 0) tokens = pushed_[i];
            const index_t want = tokens < 0 ? 1 : tokens;
            if (pushed_[i] < want || (tokens >= 0 && pushed_[i] != tokens)) {
                missing += (missing.empty() ? "" : ", ") + std::to_string(k) +
                           (pushed_[i] == 0 ? std::string(" (nothing)")
                                            : " (" + std::to_string(pushed_[i]) + " of " + std::to_string(tokens) +
                                                  " tokens)");
            }
        }
        if (missing.empty() && pos_.given() && tokens >= 0 && pos_.last_used() > tokens) {
            missing = std::string("all (the ") + (pos_.text_given() ? "vision or text" : "vision") +
                      " ranges reach token " + std::to_string(pos_.last_used()) + " but the layers have " +
                      std::to_string(tokens) + " tokens)";
        }
        const index_t n = samples_++;
        if (!missing.empty()) {
            failed_ = "sample " + std::to_string(n) + " ended without layers " + missing;
            throw argument_error(*failed_);
        }
    }

    /// The result of one chosen layer over the completed samples.
    [[nodiscard]] layer_result finalize_layer(int layer) const {
        check_final();
        return acc_.finalize_layer(layer);
    }

    /// MIR over the chosen layers and the completed samples.
    [[nodiscard]] mir_result finalize() const {
        check_final();
        return acc_.finalize();
    }

private:
    [[nodiscard]] std::string where() const { return "sample " + std::to_string(samples_); }

    void check_not_failed() const {
        if (failed_) throw argument_error("hidden_state_sink cannot go on: " + *failed_);
    }
    void check_final() const {
        if (open_) throw argument_error(where() + " is still open (call end_sample())");
        check_not_failed();
    }

    void check_open_layer(int layer) const {
        check_not_failed();
        if (!open_) throw argument_error("push of layer " + std::to_string(layer) + " outside a sample (call begin_sample())");
        if (layer < 0 || layer >= acc_.num_indices()) {
            throw argument_error(where() + ": hidden-state index " + std::to_string(layer) + " is outside 0.." +
                                 std::to_string(acc_.num_indices() - 1));
        }
    }

    [[nodiscard]] error_context at(int layer) const { return {"", "", samples_, layer}; }

    void check_cols(index_t cols, int layer, std::string_view what) const {
        if (cols != acc_.hidden_size()) {
            throw shape_error(std::string(what) + " have " + std::to_string(cols) + " columns, expected the hidden size " +
                                  std::to_string(acc_.hidden_size()),
                              at(layer));
        }
    }

    // Runs fn, which adds rows; if it throws, some rows of the layer may be
    // in already, so the sink is marked failed before the error goes on.
    template <class Fn>
    void guarded(int layer, Fn&& fn) {
        added_ = true;
        try {
            fn();
        } catch (error& e) {
            e.in_sample(samples_).in_layer(layer);
            failed_ = e.what();
            throw;
        } catch (const std::exception& e) {  // bad_alloc, …: same state, same rule
            failed_ = where() + ", layer " + std::to_string(layer) + ": " + e.what();
            throw;
        } catch (...) {
            failed_ = where() + ", layer " + std::to_string(layer) + ": unknown exception";
            throw;
        }
    }

    mir_accumulator acc_;
    vision_positions pos_;
    std::vector<index_t> pushed_;  // tokens pushed per hidden-state index in the open sample
    std::vector<bool> split_;      // pushed with push_split in the open sample
    index_t samples_ = 0;
    bool open_ = false;
    bool added_ = false;  // some row of the open sample reached the accumulator
    std::optional<std::string> failed_;
};

}  // namespace mir
