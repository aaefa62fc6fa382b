// mir/metric/accumulator.hpp — MIR fed the way a model runs: sample by
// sample, every layer of one sample at a time, never holding all layers.
//
// Each chosen layer owns two modality_accumulators (mir/stats/streaming.hpp):
// memory per layer is O(d²) plus one norm per row, plus the outlier tails
// and, under replace-median, the rows kept for the median (keep_rows, the
// exact default) or a bounded reservoir (an estimate; results say so).
#pragma once

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/mask.hpp"
#include "mir/metric/layer.hpp"
#include "mir/metric/mir.hpp"
#include "mir/precision.hpp"
#include "mir/stats/layer_statistics.hpp"
#include "mir/stats/scale.hpp"
#include "mir/stats/streaming.hpp"

namespace mir {

/// Options of the multi-layer accumulator.
struct accumulator_options {
    outlier_policy policy = outlier_policy::replace_median;
    mir::precision precision = mir::precision::fp64;
    sqrt_options sqrt = sqrt_method::exact;
    median_mode median = median_mode::keep_rows;
    index_t reservoir_rows = 4096;
    index_t tail_capacity = 64;
    /// Hidden-state indices entering MIR; empty = 1..K (index 0, the
    /// embeddings, excluded as in the official code).
    std::vector<int> layers;
    /// Called as it goes (mir/progress.hpp): after every add() into a chosen
    /// layer (stage moments, pass 1 of 1, the layer's rows so far); in
    /// finalize_layer() / finalize(), once per layer when its state becomes
    /// statistics (stage finalize) and then by its square root (unless
    /// sqrt.progress is set: then that one gets the square root's reports).
    progress_callback progress;
};

/// The accumulator in a fixed accumulation type; see mir_accumulator.
template <accumulator_type Acc>
class basic_mir_accumulator {
public:
    basic_mir_accumulator(int num_indices, index_t hidden_size, const accumulator_options& opt = {})
        : num_indices_(num_indices), dim_(hidden_size), opt_(opt) {
        if (num_indices < 1) {
            throw argument_error("mir_accumulator: the number of hidden-state indices must be >= 1, got " +
                                 std::to_string(num_indices));
        }
        if (hidden_size <= 0) {
            throw argument_error("mir_accumulator: the hidden size must be positive, got " +
                                 std::to_string(hidden_size));
        }
        if (opt_.layers.empty()) {
            for (int k = 1; k < num_indices; ++k) opt_.layers.push_back(k);
            if (opt_.layers.empty()) {
                throw argument_error("mir_accumulator: with a single hidden-state index (embeddings only) the "
                                     "default layers 1..K are empty; choose layers explicitly");
            }
        }
        std::sort(opt_.layers.begin(), opt_.layers.end());
        opt_.layers.erase(std::unique(opt_.layers.begin(), opt_.layers.end()), opt_.layers.end());
        slot_of_.assign(static_cast<std::size_t>(num_indices), -1);
        streaming_options so;
        so.policy = opt_.policy;
        so.median = opt_.median;
        so.reservoir_rows = opt_.reservoir_rows;
        so.tail_capacity = opt_.tail_capacity;
        for (int k : opt_.layers) {
            if (k < 0 || k >= num_indices) {
                throw argument_error("mir_accumulator: layer " + std::to_string(k) + " is outside 0.." +
                                     std::to_string(num_indices - 1));
            }
            slot_of_[static_cast<std::size_t>(k)] = static_cast<int>(layers_.size());
            so.seed = opt_.layers.size() * 0x9e3779b97f4a7c15ULL + static_cast<std::uint64_t>(k);
            layers_.push_back({modality_accumulator<Acc>(dim_, so), modality_accumulator<Acc>(dim_, so)});
        }
    }

    [[nodiscard]] int num_indices() const noexcept { return num_indices_; }
    [[nodiscard]] index_t hidden_size() const noexcept { return dim_; }
    [[nodiscard]] const std::vector<int>& layers() const noexcept { return opt_.layers; }
    [[nodiscard]] const accumulator_options& options() const noexcept { return opt_; }
    /// Whether hidden-state index `layer` enters MIR (callers may skip the rest).
    [[nodiscard]] bool wants(int layer) const noexcept {
        return layer >= 0 && layer < num_indices_ && slot_of_[static_cast<std::size_t>(layer)] >= 0;
    }

    /// One layer of one sample: T token rows and a length-T vision mask.
    template <element T, mask_element M>
    void add(int layer, const row_view<T>& rows, std::span<const M> vision_mask) {
        check_layer(layer);
        if (static_cast<index_t>(vision_mask.size()) != rows.rows) {
            throw shape_error("the vision mask has " + std::to_string(vision_mask.size()) + " entries for " +
                                  std::to_string(rows.rows) + " tokens",
                              error_context{"", "", -1, layer});
        }
        if (!wants(layer)) return;
        auto& l = layers_[static_cast<std::size_t>(slot_of_[static_cast<std::size_t>(layer)])];
        for_each_mask_run(vision_mask, [&](index_t b, index_t e, bool vision) {
            (vision ? l.vision : l.text)
                .add(rows.middle_rows(b, e - b), row_context{layer, vision ? "vision" : "text", 0});
        });
        report_added(layer, l);
    }

    /// One layer of one sample: T token rows, a length-T vision mask and a
    /// length-T text mask; rows in neither are ignored (SPEC §6–7), a row in
    /// both is a mir::argument_error naming its position.
    template <element T, mask_element MV, mask_element MT>
    void add(int layer, const row_view<T>& rows, std::span<const MV> vision_mask, std::span<const MT> text_mask) {
        check_layer(layer);
        if (static_cast<index_t>(vision_mask.size()) != rows.rows || text_mask.size() != vision_mask.size()) {
            throw shape_error("the vision and text masks have " + std::to_string(vision_mask.size()) + " and " +
                                  std::to_string(text_mask.size()) + " entries for " + std::to_string(rows.rows) +
                                  " tokens",
                              error_context{"", "", -1, layer});
        }
        std::vector<token_role> roles;
        try {
            roles = token_roles(vision_mask, text_mask);
        } catch (error& e) {
            e.in_layer(layer);
            throw;
        }
        if (!wants(layer)) return;
        auto& l = layers_[static_cast<std::size_t>(slot_of_[static_cast<std::size_t>(layer)])];
        for_each_role_run(std::span<const token_role>(roles), [&](index_t b, index_t e, token_role r) {
            if (r == token_role::ignored) return;
            const bool vision = r == token_role::vision;
            (vision ? l.vision : l.text)
                .add(rows.middle_rows(b, e - b), row_context{layer, vision ? "vision" : "text", 0});
        });
        report_added(layer, l);
    }

    /// One layer of one sample, already split by modality.
    template <element TV, element TT>
    void add(int layer, const row_view<TV>& vision, const row_view<TT>& text) {
        check_layer(layer);
        if (!wants(layer)) return;
        auto& l = layers_[static_cast<std::size_t>(slot_of_[static_cast<std::size_t>(layer)])];
        l.vision.add(vision, row_context{layer, "vision", 0});
        l.text.add(text, row_context{layer, "text", 0});
        report_added(layer, l);
    }

    /// Rows of one modality of one layer (a run of a sample, in any pieces).
    template <element T>
    void add_rows(int layer, bool is_vision, const row_view<T>& rows) {
        check_layer(layer);
        if (!wants(layer)) return;
        auto& l = layers_[static_cast<std::size_t>(slot_of_[static_cast<std::size_t>(layer)])];
        (is_vision ? l.vision : l.text).add(rows, row_context{layer, is_vision ? "vision" : "text", 0});
        report_added(layer, l);
    }

    /// The statistics of one chosen layer so far (what MoCa's initialiser
    /// and the Fréchet layer consume).
    [[nodiscard]] layer_statistics statistics(int layer) const {
        check_layer(layer);
        if (!wants(layer)) {
            throw argument_error("mir_accumulator: layer " + std::to_string(layer) + " is not among the chosen layers");
        }
        const auto& l = layers_[static_cast<std::size_t>(slot_of_[static_cast<std::size_t>(layer)])];
        const row_context vctx{layer, "vision", 0}, tctx{layer, "text", 0};
        detail::require_rows(l.vision.rows(), 2, vctx, "rows given");
        detail::require_rows(l.text.rows(), 2, tctx, "rows given");
        layer_statistics s;
        s.epsilon = static_cast<double>(std::numeric_limits<Acc>::epsilon());
        s.layer = layer;
        s.alpha = text_centric_scale(l.text.norms());
        s.vision = l.vision.finalize(vctx);
        s.text = l.text.finalize(tctx);
        return s;
    }

    /// The result of one chosen layer so far.
    [[nodiscard]] layer_result finalize_layer(int layer) const {
        if (!opt_.progress) return compute_layer(statistics(layer), opt_.sqrt);
        check_layer(layer);
        if (wants(layer)) {
            const auto& l = layers_[static_cast<std::size_t>(slot_of_[static_cast<std::size_t>(layer)])];
            opt_.progress(event_of(progress_stage::finalize, layer, l));
        }
        sqrt_options s = opt_.sqrt;
        if (!s.progress) s.progress = opt_.progress;
        return compute_layer(statistics(layer), s);
    }

    /// MIR over the chosen layers.
    [[nodiscard]] mir_result finalize() const {
        std::vector<layer_result> out;
        out.reserve(opt_.layers.size());
        for (int k : opt_.layers) out.push_back(finalize_layer(k));
        return aggregate(std::move(out));
    }

    /// Rows buffered beyond the fixed-size state, over all layers and modalities.
    [[nodiscard]] index_t buffered_rows() const noexcept {
        index_t n = 0;
        for (const auto& l : layers_) n += l.vision.buffered_rows() + l.text.buffered_rows();
        return n;
    }

private:
    struct layer_state {
        modality_accumulator<Acc> vision;
        modality_accumulator<Acc> text;
    };

    static progress_event event_of(progress_stage stage, int layer, const layer_state& l) {
        progress_event e;
        e.stage = stage;
        e.layer = layer;
        e.pass = 1;
        e.passes = 1;
        e.rows = l.vision.rows() + l.text.rows();
        return e;
    }
    void report_added(int layer, const layer_state& l) const {
        if (opt_.progress) opt_.progress(event_of(progress_stage::moments, layer, l));
    }

    void check_layer(int layer) const {
        if (layer < 0 || layer >= num_indices_) {
            throw argument_error("mir_accumulator: hidden-state index " + std::to_string(layer) +
                                 " is outside 0.." + std::to_string(num_indices_ - 1));
        }
    }

    int num_indices_;
    index_t dim_;
    accumulator_options opt_;
    std::vector<int> slot_of_;
    std::vector<layer_state> layers_;
};

/// The multi-layer accumulator, accumulation type chosen at run time
/// (accumulator_options::precision).
class mir_accumulator {
public:
    mir_accumulator(int num_indices, index_t hidden_size, const accumulator_options& opt = {})
        : impl_(make(num_indices, hidden_size, opt)) {}

    template <element T, mask_element M>
    void add(int layer, const row_view<T>& rows, std::span<const M> vision_mask) {
        std::visit([&](auto& a) { a.add(layer, rows, vision_mask); }, impl_);
    }
    template <element T, mask_element MV, mask_element MT>
    void add(int layer, const row_view<T>& rows, std::span<const MV> vision_mask, std::span<const MT> text_mask) {
        std::visit([&](auto& a) { a.add(layer, rows, vision_mask, text_mask); }, impl_);
    }
    template <element TV, element TT>
    void add(int layer, const row_view<TV>& vision, const row_view<TT>& text) {
        std::visit([&](auto& a) { a.add(layer, vision, text); }, impl_);
    }
    template <element T>
    void add_rows(int layer, bool is_vision, const row_view<T>& rows) {
        std::visit([&](auto& a) { a.add_rows(layer, is_vision, rows); }, impl_);
    }
    [[nodiscard]] bool wants(int layer) const {
        return std::visit([&](const auto& a) { return a.wants(layer); }, impl_);
    }
    [[nodiscard]] const std::vector<int>& layers() const {
        return std::visit([](const auto& a) -> const std::vector<int>& { return a.layers(); }, impl_);
    }
    [[nodiscard]] int num_indices() const {
        return std::visit([](const auto& a) { return a.num_indices(); }, impl_);
    }
    [[nodiscard]] index_t hidden_size() const {
        return std::visit([](const auto& a) { return a.hidden_size(); }, impl_);
    }
    [[nodiscard]] layer_statistics statistics(int layer) const {
        return std::visit([&](const auto& a) { return a.statistics(layer); }, impl_);
    }
    [[nodiscard]] layer_result finalize_layer(int layer) const {
        return std::visit([&](const auto& a) { return a.finalize_layer(layer); }, impl_);
    }
    [[nodiscard]] mir_result finalize() const {
        return std::visit([](const auto& a) { return a.finalize(); }, impl_);
    }
    [[nodiscard]] index_t buffered_rows() const {
        return std::visit([](const auto& a) { return a.buffered_rows(); }, impl_);
    }

private:
    using variant = std::variant<basic_mir_accumulator<double>, basic_mir_accumulator<float>>;
    static variant make(int k, index_t d, const accumulator_options& opt) {
        return with_precision(opt.precision, [&]<class Acc>() { return variant(basic_mir_accumulator<Acc>(k, d, opt)); });
    }
    variant impl_;
};

}  // namespace mir
