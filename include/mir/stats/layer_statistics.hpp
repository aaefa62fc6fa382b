// mir/stats/layer_statistics.hpp — the one pipeline that turns a layer's
// rows into its statistics (SPEC §2.1–2.2): the text-centric scale α and,
// per modality, the 3σ rule, the outlier plan applied, and the Gaussian
// summary. The Fréchet layer (mir/metric/layer.hpp, multipass.hpp), the
// streaming accumulator (mir/metric/accumulator.hpp) and MoCa's
// initialiser (mir/moca/moment_init.hpp) all consume layer_statistics.
//
// Three ways in, one result:
//   compute_layer_statistics             rows in memory
//   compute_layer_statistics_multipass   a replayable source, exact, in
//                                        memory that does not grow with the
//                                        rows (beyond one norm per row):
//     pass 1  row norms (→ α, the 3σ rules) and, when the plan needs the
//             median, its first digit (mir/stats/median.hpp)
//     pass 2  moments of the rows that enter as they are; the next digit
//     pass 3+ only while a median needs more digits (f32: 4 in all, f64: 6;
//             f16 and bf16 rows are done after pass 2)
//   the streaming accumulator's two modality_accumulators (stats/streaming.hpp)
#pragma once

#include <Eigen/Core>

#include <algorithm>

#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/progress.hpp"
#include "mir/stats/median.hpp"
#include "mir/stats/modality.hpp"
#include "mir/stats/moments.hpp"
#include "mir/stats/norms.hpp"
#include "mir/stats/outliers.hpp"
#include "mir/stats/scale.hpp"

namespace mir {

/// One hidden-state index's statistics: raw (unscaled) Gaussian summaries
/// of each modality after the outlier policy, and the text-centric scale α.
struct layer_statistics {
    int layer = -1;  ///< hidden-state index (-1 when unknown)
    double alpha = 0.0;
    modality_stats vision;
    modality_stats text;
    /// The unit roundoff of the accumulation (2^-52 for fp64, 2^-23 for fp32):
    /// the rounding level of these statistics, for frechet_terms::rounding_bound.
    double epsilon = 0x1p-52;
};

/// What a multipass computation cost.
struct multipass_info {
    int passes = 0;                ///< times the source was replayed
    std::size_t median_bytes = 0;  ///< peak memory of the median selectors
};

namespace detail {

/// Throws shape_error unless a modality's rows have the hidden size.
inline void require_columns(index_t cols, index_t dim, const row_context& ctx) {
    if (cols != dim) {
        throw shape_error(std::string(ctx.modality) + " rows have " + std::to_string(cols) +
                              " columns, expected the hidden size " + std::to_string(dim),
                          ctx.where());
    }
}

template <accumulator_type Acc>
struct replayed_modality {
    replayed_modality(index_t d, std::string_view name, int layer) : ctx{layer, name, 0}, m(d), selector(d) {}
    row_context ctx;
    std::vector<double> norms;
    outlier_rule rule;
    index_t outliers = 0;
    moments<Acc> m;
    exact_median_selector selector;
    bool need_median = false;
    std::optional<Eigen::MatrixXd> factor_rows;  // the final rows, when fewer than d
    index_t fill = 0;                            // factor rows filled so far
    index_t cursor = 0;                          // row index within the current pass
    std::vector<index_t> kept;

    [[nodiscard]] bool outlier(index_t i) const { return rule.is_outlier(norms[static_cast<std::size_t>(i)]); }
    [[nodiscard]] bool median_pending() const { return need_median && !selector.done(); }
};

}  // namespace detail

/// From all rows in memory.
template <accumulator_type Acc = double, element TV, element TT>
[[nodiscard]] layer_statistics compute_layer_statistics(const row_view<TV>& vision, const row_view<TT>& text,
                                                        outlier_policy policy = outlier_policy::replace_median,
                                                        int layer = -1) {
    const row_context vctx{layer, "vision", 0};
    const row_context tctx{layer, "text", 0};
    validate_view(vision, "vision rows");
    validate_view(text, "text rows");
    if (vision.cols != text.cols) {
        throw shape_error("vision rows have " + std::to_string(vision.cols) + " columns but text rows have " +
                              std::to_string(text.cols),
                          vctx.where());
    }
    detail::require_rows(vision.rows, 2, vctx, "rows given");
    detail::require_rows(text.rows, 2, tctx, "rows given");
    const std::vector<double> vnorms = row_norms(vision, vctx);
    const std::vector<double> tnorms = row_norms(text, tctx);
    layer_statistics s;
    s.layer = layer;
    s.epsilon = static_cast<double>(std::numeric_limits<Acc>::epsilon());
    s.alpha = text_centric_scale(tnorms);
    s.vision = modality_statistics<Acc>(vision, vnorms, policy, vctx);
    s.text = modality_statistics<Acc>(text, tnorms, policy, tctx);
    return s;
}

/// From a replayable source, exact. `replay(sink)` must call
/// `sink(is_vision, rows)` (rows: any row_view<T>) for every row of the
/// layer, presenting the same rows in the same order on every call.
/// `progress`, when set, is called after every chunk of rows of every pass.
template <accumulator_type Acc = double, class Replay>
[[nodiscard]] layer_statistics compute_layer_statistics_multipass(
    Replay&& replay, index_t dim, outlier_policy policy = outlier_policy::replace_median, int layer = -1,
    multipass_info* info = nullptr, const progress_callback& progress = {}) {
    using state = detail::replayed_modality<Acc>;
    const outlier_plan plan = plan_of(policy);
    state vis(dim, "vision", layer), txt(dim, "text", layer);
    int passes = 0;
    std::size_t median_bytes = 0;
    progress_event event;  // what `progress` is told: updated as the passes go
    event.layer = layer;
    event.passes = 2;
    const auto begin_pass = [&](progress_stage stage) {
        event.stage = stage;
        event.pass = passes + 1;
        event.passes = std::max(event.passes, event.pass);
        event.rows = 0;
    };
    const auto report = [&](index_t rows) {
        event.rows += rows;
        if (progress) progress(event);
    };
    const auto check = [&](const auto& rows, const state& s) {
        validate_view(rows, std::string(s.ctx.modality) + " rows");
        detail::require_columns(rows.cols, dim, s.ctx);
    };

    // Pass 1: norms, and the median's first digit.
    begin_pass(progress_stage::norms);
    if (plan.needs_median()) {
        vis.selector.begin_pass();
        txt.selector.begin_pass();
    }
    replay([&](bool is_vision, const auto& rows) {
        state& s = is_vision ? vis : txt;
        check(rows, s);
        row_context c = s.ctx;
        c.row_offset = static_cast<index_t>(s.norms.size());
        append_row_norms(rows, s.norms, c);
        if (plan.needs_median()) s.selector.add(rows);
        report(rows.rows);
    });
    ++passes;
    event.rows_per_pass = event.rows;
    for (state* s : {&vis, &txt}) {
        const auto n = static_cast<index_t>(s->norms.size());
        detail::require_rows(n, 2, s->ctx, "rows given");
        s->rule = outlier_rule::fit(s->norms);
        if (plan.flags) {
            for (index_t i = 0; i < n; ++i) s->outliers += s->outlier(i) ? 1 : 0;
        }
        if (plan.needs_median()) {
            s->selector.end_pass();
            median_bytes += s->selector.memory_bytes();
            s->need_median = plan.replaces && s->outliers > 0 && !s->selector.done();
        }
        const index_t final_rows = plan.final_rows(n, s->outliers);
        detail::require_rows(final_rows, 2, s->ctx, "rows remain after dropping outliers");
        if (final_rows < dim) s->factor_rows = Eigen::MatrixXd(final_rows, dim);
        // Scale before narrowing (moments::set_scale): fp32 holds rows near 1e30 and denormals.
        s->m.set_scale(moments<Acc>::scale_for(n > 0 ? *std::max_element(s->norms.begin(), s->norms.end()) : 0.0));
        if (s->need_median) s->selector.begin_pass();
        if (s->need_median) event.passes = std::max(event.passes, 1 + std::max(1, s->selector.passes_left()));
    }

    // Pass 2: moments of the rows that enter as they are (+ the next median digit).
    begin_pass(progress_stage::moments);
    replay([&](bool is_vision, const auto& rows) {
        state& s = is_vision ? vis : txt;
        check(rows, s);
        const index_t first = s.cursor;
        s.cursor += rows.rows;
        if (s.cursor > static_cast<index_t>(s.norms.size())) {
            throw argument_error(std::string(s.ctx.modality) + " rows: the source presented more rows on a later pass",
                                 s.ctx.where());
        }
        s.kept.clear();
        for (index_t i = 0; i < rows.rows; ++i) {
            if (!plan.flags || !s.outlier(first + i)) s.kept.push_back(i);
        }
        if (static_cast<index_t>(s.kept.size()) == rows.rows) {
            s.m.add(rows);
        } else {
            s.m.add(rows, s.kept);
        }
        if (s.factor_rows) {
            for (index_t i : s.kept) {
                for (index_t j = 0; j < dim; ++j) (*s.factor_rows)(s.fill, j) = to_acc<double>(rows.row(i)[j]);
                ++s.fill;
            }
        }
        if (s.need_median) s.selector.add(rows);
        report(rows.rows);
    });
    ++passes;
    for (state* s : {&vis, &txt}) {
        if (s->cursor != static_cast<index_t>(s->norms.size())) {
            throw argument_error(std::string(s->ctx.modality) + " rows: the source presented " +
                                     std::to_string(s->cursor) + " rows on pass 2 but " +
                                     std::to_string(s->norms.size()) + " on pass 1",
                                 s->ctx.where());
        }
        if (s->need_median) s->selector.end_pass();
    }

    // Passes 3+: only while a median needs more digits.
    while (vis.median_pending() || txt.median_pending()) {
        for (state* s : {&vis, &txt}) {
            if (s->median_pending()) s->selector.begin_pass();
        }
        begin_pass(progress_stage::median);
        replay([&](bool is_vision, const auto& rows) {
            state& s = is_vision ? vis : txt;
            if (s.median_pending()) s.selector.add(rows);
            report(rows.rows);
        });
        ++passes;
        for (state* s : {&vis, &txt}) {
            if (s->median_pending()) s->selector.end_pass();
        }
    }

    const auto finish = [&](state& s) {
        modality_stats out;
        out.input_rows = static_cast<index_t>(s.norms.size());
        out.rule = s.rule;
        out.outliers = s.outliers;
        const std::optional<Eigen::VectorXd> stand_in =
            detail::add_stand_ins(plan, s.m, s.outliers, [&] { return s.selector.median(); }, s.ctx);
        if (s.factor_rows && stand_in) {
            for (index_t r = s.fill; r < s.factor_rows->rows(); ++r) s.factor_rows->row(r) = stand_in->transpose();
        }
        out.gaussian = detail::finish_gaussian(
            s.m, [&] { return *s.factor_rows; }, s.ctx);
        return out;
    };
    layer_statistics out;
    out.layer = layer;
    out.epsilon = static_cast<double>(std::numeric_limits<Acc>::epsilon());
    out.alpha = text_centric_scale(txt.norms);
    out.vision = finish(vis);
    out.text = finish(txt);
    if (info) {
        info->passes = passes;
        info->median_bytes = median_bytes;
    }
    return out;
}

}  // namespace mir
