// mir/metric/multipass.hpp — one layer, exact, in memory that does not grow
// with the number of rows (beyond one norm per row), from a source that can
// present the layer's rows more than once (files, in-memory tensors).
//
//   pass 1  row norms (→ α, the 3σ rules) and, under replace-median, the
//           first digit of the exact per-dimension median (stats/median.hpp)
//   pass 2  moments of the inliers (or of all rows under none); the next
//           median digit
//   pass 3+ only when the median needs more digits (f32: 4 in all, f64: 6);
//           f16 and bf16 rows are done after pass 2
//
// The result equals compute_layer on the concatenated rows (same pipeline,
// same rounding up to the order of accumulation) and is always exact.
#pragma once

#include <Eigen/Core>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/metric/layer.hpp"
#include "mir/stats/median.hpp"
#include "mir/stats/modality.hpp"
#include "mir/stats/moments.hpp"
#include "mir/stats/norms.hpp"
#include "mir/stats/scale.hpp"

namespace mir {

/// What a multipass computation cost.
struct multipass_info {
    int passes = 0;                  ///< times the source was replayed
    std::size_t median_bytes = 0;    ///< peak memory of the median selectors
};

namespace detail {

template <accumulator_type Acc>
struct multipass_modality {
    explicit multipass_modality(index_t d, std::string_view name) : dim(d), ctx{-1, name, 0}, m(d), selector(d) {}

    index_t dim;
    row_context ctx;
    std::vector<double> norms;
    outlier_rule rule;
    index_t outliers = 0;
    moments<Acc> m;
    exact_median_selector selector;
    bool need_median = false;
    std::optional<Eigen::MatrixXd> factor_rows;  // the final rows, when fewer than d
    index_t cursor = 0;                          // row index within the current pass
    std::vector<index_t> kept;

    [[nodiscard]] bool outlier(index_t i) const { return rule.is_outlier(norms[static_cast<std::size_t>(i)]); }
};

}  // namespace detail

/// One layer from a replayable source. `replay(sink)` must call
/// `sink(is_vision, rows)` (rows: any row_view<T>) for every row of the
/// layer, presenting the same rows in the same order on every call.
template <accumulator_type Acc = double, class Replay>
[[nodiscard]] layer_result compute_layer_multipass(Replay&& replay, index_t dim, const layer_options& opt = {},
                                                   multipass_info* info = nullptr) {
    using state = detail::multipass_modality<Acc>;
    state vis(dim, "vision"), txt(dim, "text");
    vis.ctx.layer = txt.ctx.layer = opt.layer;
    const bool replace = opt.policy == outlier_policy::replace_median;
    int passes = 0;
    std::size_t median_bytes = 0;

    auto check = [&](const auto& rows, const state& s) {
        validate_view(rows, std::string(s.ctx.modality) + " rows");
        if (rows.cols != dim) {
            throw shape_error((opt.layer >= 0 ? "layer " + std::to_string(opt.layer) + ": " : std::string()) +
                              std::string(s.ctx.modality) + " rows have " + std::to_string(rows.cols) +
                              " columns, expected the hidden size " + std::to_string(dim));
        }
    };

    // Pass 1: norms, and the median's first digit.
    if (replace) {
        vis.selector.begin_pass();
        txt.selector.begin_pass();
    }
    replay([&](bool is_vision, const auto& rows) {
        state& s = is_vision ? vis : txt;
        check(rows, s);
        row_context c = s.ctx;
        c.row_offset = static_cast<index_t>(s.norms.size());
        append_row_norms(rows, s.norms, c);
        if (replace) s.selector.add(rows);
    });
    ++passes;
    for (state* s : {&vis, &txt}) {
        const auto n = static_cast<index_t>(s->norms.size());
        detail::require_rows(n, 2, s->ctx, "rows given");
        s->rule = outlier_rule::fit(s->norms);
        if (opt.policy != outlier_policy::none) {
            for (index_t i = 0; i < n; ++i) s->outliers += s->outlier(i) ? 1 : 0;
        }
        if (replace) {
            s->selector.end_pass();
            median_bytes += s->selector.memory_bytes();
            s->need_median = s->outliers > 0 && !s->selector.done();
        }
        const index_t final_rows = opt.policy == outlier_policy::drop ? n - s->outliers : n;
        detail::require_rows(final_rows, 2, s->ctx, "rows remain after dropping outliers");
        if (final_rows < dim) s->factor_rows = Eigen::MatrixXd(final_rows, dim);
    }
    const double alpha = text_centric_scale(txt.norms);

    // Pass 2: moments of the rows the policy keeps (+ the next median digit).
    for (state* s : {&vis, &txt}) {
        if (s->need_median) s->selector.begin_pass();
    }
    index_t factor_fill[2] = {0, 0};
    replay([&](bool is_vision, const auto& rows) {
        state& s = is_vision ? vis : txt;
        check(rows, s);
        const index_t first = s.cursor;
        s.cursor += rows.rows;
        if (s.cursor > static_cast<index_t>(s.norms.size())) {
            throw argument_error(std::string(s.ctx.modality) + " rows: the source presented more rows on a later pass");
        }
        s.kept.clear();
        for (index_t i = 0; i < rows.rows; ++i) {
            if (opt.policy == outlier_policy::none || !s.outlier(first + i)) s.kept.push_back(i);
        }
        if (static_cast<index_t>(s.kept.size()) == rows.rows) {
            s.m.add(rows);
        } else {
            s.m.add(rows, s.kept);
        }
        if (s.factor_rows) {
            index_t& r = factor_fill[is_vision ? 0 : 1];
            for (index_t i : s.kept) {
                for (index_t j = 0; j < dim; ++j) (*s.factor_rows)(r, j) = to_acc<double>(rows.row(i)[j]);
                ++r;
            }
        }
        if (s.need_median) s.selector.add(rows);
    });
    ++passes;
    for (state* s : {&vis, &txt}) {
        if (s->cursor != static_cast<index_t>(s->norms.size())) {
            throw argument_error(std::string(s->ctx.modality) + " rows: the source presented " +
                                 std::to_string(s->cursor) + " rows on pass 2 but " +
                                 std::to_string(s->norms.size()) + " on pass 1");
        }
        if (s->need_median) s->selector.end_pass();
    }

    // Passes 3+: only while a median needs more digits.
    while ((vis.need_median && !vis.selector.done()) || (txt.need_median && !txt.selector.done())) {
        for (state* s : {&vis, &txt}) {
            if (s->need_median && !s->selector.done()) s->selector.begin_pass();
        }
        replay([&](bool is_vision, const auto& rows) {
            state& s = is_vision ? vis : txt;
            if (s.need_median && !s.selector.done()) s.selector.add(rows);
        });
        ++passes;
        for (state* s : {&vis, &txt}) {
            if (s->need_median && !s->selector.done()) s->selector.end_pass();
        }
    }

    auto finish = [&](state& s, index_t fill) {
        modality_stats out;
        out.input_rows = static_cast<index_t>(s.norms.size());
        out.rule = s.rule;
        out.outliers = s.outliers;
        if (replace && s.outliers > 0) {
            const Eigen::VectorXd median = s.selector.median();
            s.m.add_constant(median, s.outliers);
            if (s.factor_rows) {
                for (index_t r = fill; r < s.factor_rows->rows(); ++r) s.factor_rows->row(r) = median.transpose();
            }
        }
        out.gaussian = detail::finish_gaussian(s.m, [&] { return *s.factor_rows; });
        return out;
    };
    const modality_stats v = finish(vis, factor_fill[0]);
    const modality_stats t = finish(txt, factor_fill[1]);
    if (info) {
        info->passes = passes;
        info->median_bytes = median_bytes;
    }
    return detail::combine_layer(opt.layer, alpha, v, t, opt.sqrt);
}

}  // namespace mir
