// mir/moca/moment_init.hpp — a MoCa initialiser beyond the paper: set
// each layer's (u, v) from the statistics MIR already computes so that the
// calibrated vision rows match the text rows' per-dimension mean and
// standard deviation:
//     u_j = σ_t,j / σ_v,j,   v_j = μ_t,j − u_j·μ_v,j
// (raw hidden states, the same outlier policy as MIR, Bessel standard
// deviations; where σ_v,j ≤ 1e-6 · max_j σ_v,j: u_j = 1, v_j = μ_t,j − μ_v,j).
//
// Decoder layer i's MoCa acts on its output, hidden-states index i + 1, so
// layer i's parameters come from the statistics of index i + 1. For the last
// decoder layer that index is the output *after the model's final norm*
// (SPEC §1): its values are therefore approximate.
//
// The affine map acts on the Gaussian summary in closed form,
// μ_v ↦ D μ_v + v and Σ_v ↦ D Σ_v D (D = diag u), which gives the per-layer
// FID after calibration from the same statistics. That is the immediate
// effect of the calibration on these hidden states (with the outlier set
// held fixed), not a prediction for a model retrained with MoCa.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/metric/frechet.hpp"
#include "mir/moca/layer.hpp"
#include "mir/stats/median.hpp"
#include "mir/stats/modality.hpp"
#include "mir/stats/moments.hpp"
#include "mir/stats/norms.hpp"
#include "mir/stats/outliers.hpp"
#include "mir/stats/scale.hpp"

namespace mir::moca {

/// One hidden-state index's statistics, as the MIR pipeline computes them:
/// raw (unscaled) Gaussian summaries of each modality after the outlier
/// policy, and the text-centric scale α.
struct layer_statistics {
    int index = -1;  ///< hidden-state index (-1 when unknown)
    double alpha = 0.0;
    modality_stats vision;
    modality_stats text;
};

/// From all rows in memory (the per-layer path of compute_layer).
template <accumulator_type Acc = double, element TV, element TT>
[[nodiscard]] layer_statistics compute_layer_statistics(const row_view<TV>& vision, const row_view<TT>& text,
                                                        outlier_policy policy = outlier_policy::replace_median,
                                                        int index = -1) {
    const row_context vctx{index, "vision", 0};
    const row_context tctx{index, "text", 0};
    validate_view(vision, "vision rows");
    validate_view(text, "text rows");
    if (vision.cols != text.cols) {
        throw shape_error("moca statistics: vision rows have " + std::to_string(vision.cols) +
                          " columns but text rows have " + std::to_string(text.cols));
    }
    mir::detail::require_rows(vision.rows, 2, vctx, "rows given");
    mir::detail::require_rows(text.rows, 2, tctx, "rows given");
    const std::vector<double> vnorms = row_norms(vision, vctx);
    const std::vector<double> tnorms = row_norms(text, tctx);
    layer_statistics s;
    s.index = index;
    s.alpha = text_centric_scale(tnorms);
    s.vision = modality_statistics<Acc>(vision, vnorms, policy, vctx);
    s.text = modality_statistics<Acc>(text, tnorms, policy, tctx);
    return s;
}

namespace detail {

template <accumulator_type Acc>
struct replay_modality {
    replay_modality(index_t d, std::string_view name, int layer) : ctx{layer, name, 0}, m(d), selector(d) {}
    row_context ctx;
    std::vector<double> norms;
    outlier_rule rule;
    index_t outliers = 0;
    moments<Acc> m;
    exact_median_selector selector;
    bool need_median = false;
    std::optional<Eigen::MatrixXd> factor_rows;
    index_t fill = 0;
    index_t cursor = 0;
    std::vector<index_t> kept;
    [[nodiscard]] bool outlier(index_t i) const { return rule.is_outlier(norms[static_cast<std::size_t>(i)]); }
};

}  // namespace detail

/// The same statistics from a replayable source, exact, in memory that does
/// not grow with the rows (beyond a norm per row): `replay(sink)` calls
/// `sink(is_vision, rows)` (rows: any row_view<T>) for every row of the
/// index, the same rows in the same order on every call. The passes are
/// those of compute_layer_multipass (mir/metric/multipass.hpp): norms, then
/// moments of the kept rows, then (replace-median only) median digits.
template <accumulator_type Acc = double, class Replay>
[[nodiscard]] layer_statistics compute_layer_statistics_multipass(Replay&& replay, index_t dim,
                                                                  outlier_policy policy = outlier_policy::replace_median,
                                                                  int index = -1) {
    using state = detail::replay_modality<Acc>;
    state vis(dim, "vision", index), txt(dim, "text", index);
    const bool replace = policy == outlier_policy::replace_median;
    const auto check = [&](const auto& rows, const state& s) {
        validate_view(rows, std::string(s.ctx.modality) + " rows");
        if (rows.cols != dim) {
            throw shape_error(std::string(s.ctx.modality) + " rows have " + std::to_string(rows.cols) +
                              " columns, expected the hidden size " + std::to_string(dim));
        }
    };

    if (replace) {
        vis.selector.begin_pass();
        txt.selector.begin_pass();
    }
    replay([&](bool is_vision, const auto& rows) {  // pass 1: norms (+ median digit)
        state& s = is_vision ? vis : txt;
        check(rows, s);
        row_context c = s.ctx;
        c.row_offset = static_cast<index_t>(s.norms.size());
        append_row_norms(rows, s.norms, c);
        if (replace) s.selector.add(rows);
    });
    for (state* s : {&vis, &txt}) {
        const auto n = static_cast<index_t>(s->norms.size());
        mir::detail::require_rows(n, 2, s->ctx, "rows given");
        s->rule = outlier_rule::fit(s->norms);
        if (policy != outlier_policy::none) {
            for (index_t i = 0; i < n; ++i) s->outliers += s->outlier(i) ? 1 : 0;
        }
        if (replace) {
            s->selector.end_pass();
            s->need_median = s->outliers > 0 && !s->selector.done();
        }
        const index_t final_rows = policy == outlier_policy::drop ? n - s->outliers : n;
        mir::detail::require_rows(final_rows, 2, s->ctx, "rows remain after dropping outliers");
        if (final_rows < dim) s->factor_rows = Eigen::MatrixXd(final_rows, dim);
        if (s->need_median) s->selector.begin_pass();
    }

    replay([&](bool is_vision, const auto& rows) {  // pass 2: moments of the kept rows
        state& s = is_vision ? vis : txt;
        check(rows, s);
        const index_t first = s.cursor;
        s.cursor += rows.rows;
        if (s.cursor > static_cast<index_t>(s.norms.size())) {
            throw argument_error(std::string(s.ctx.modality) + " rows: the source presented more rows on a later pass");
        }
        s.kept.clear();
        for (index_t i = 0; i < rows.rows; ++i) {
            if (policy == outlier_policy::none || !s.outlier(first + i)) s.kept.push_back(i);
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
    });
    for (state* s : {&vis, &txt}) {
        if (s->cursor != static_cast<index_t>(s->norms.size())) {
            throw argument_error(std::string(s->ctx.modality) + " rows: the source presented " +
                                 std::to_string(s->cursor) + " rows on pass 2 but " + std::to_string(s->norms.size()) +
                                 " on pass 1");
        }
        if (s->need_median) s->selector.end_pass();
    }
    const auto more = [](const state& s) { return s.need_median && !s.selector.done(); };
    while (more(vis) || more(txt)) {  // passes 3+: median digits
        for (state* s : {&vis, &txt}) {
            if (more(*s)) s->selector.begin_pass();
        }
        replay([&](bool is_vision, const auto& rows) {
            state& s = is_vision ? vis : txt;
            if (more(s)) s.selector.add(rows);
        });
        for (state* s : {&vis, &txt}) {
            if (more(*s)) s->selector.end_pass();
        }
    }

    const auto finish = [&](state& s) {
        modality_stats out;
        out.input_rows = static_cast<index_t>(s.norms.size());
        out.rule = s.rule;
        out.outliers = s.outliers;
        if (replace && s.outliers > 0) {
            const Eigen::VectorXd median = s.selector.median();
            s.m.add_constant(median, s.outliers);
            if (s.factor_rows) {
                for (index_t r = s.fill; r < s.factor_rows->rows(); ++r) s.factor_rows->row(r) = median.transpose();
            }
        }
        out.gaussian = mir::detail::finish_gaussian(s.m, [&] { return *s.factor_rows; });
        return out;
    };
    layer_statistics out;
    out.index = index;
    out.alpha = text_centric_scale(txt.norms);
    out.vision = finish(vis);
    out.text = finish(txt);
    return out;
}

/// Per-dimension Bessel standard deviations of a Gaussian summary.
[[nodiscard]] inline Eigen::VectorXd per_dimension_stddev(const gaussian_stats& g) {
    return g.covariance.diagonal().cwiseMax(0.0).cwiseSqrt();
}

/// Options of the moment-matching initialiser.
struct moment_match_options {
    /// σ_v,j ≤ ratio · max_j σ_v,j counts as degenerate: u_j = 1, v_j = μ_t,j − μ_v,j.
    double degenerate_ratio = 1e-6;
};

/// (u, v) that map the vision summary's per-dimension mean and std onto
/// the text summary's. `degenerate`, when given, receives the number of
/// dimensions that took the σ_v ≈ 0 rule.
[[nodiscard]] inline layer moment_matching_layer(const gaussian_stats& vision, const gaussian_stats& text,
                                                 const moment_match_options& opt = {},
                                                 index_t* degenerate = nullptr) {
    if (vision.dim() != text.dim() || vision.dim() == 0) {
        throw shape_error("moment matching: vision statistics have dimension " + std::to_string(vision.dim()) +
                          ", text statistics " + std::to_string(text.dim()));
    }
    const index_t d = vision.dim();
    const Eigen::VectorXd sv = per_dimension_stddev(vision);
    const Eigen::VectorXd st = per_dimension_stddev(text);
    const double cut = opt.degenerate_ratio * sv.maxCoeff();
    layer p(d);
    index_t n = 0;
    for (index_t j = 0; j < d; ++j) {
        if (sv[j] <= cut) {
            p.scale[j] = 1.0;
            ++n;
        } else {
            p.scale[j] = st[j] / sv[j];
        }
        p.shift[j] = text.mean[j] - p.scale[j] * vision.mean[j];
    }
    if (degenerate) *degenerate = n;
    return p;
}

/// The summary of the rows after ψ(h) = u ⊙ h + v, in closed form:
/// mean D μ + v, covariance D Σ D, factor F D (D = diag u).
[[nodiscard]] inline gaussian_stats apply_affine(const gaussian_stats& g, const layer& p) {
    if (g.dim() != p.dim()) {
        throw shape_error("moca: statistics of dimension " + std::to_string(g.dim()) +
                          " and a calibration of hidden size " + std::to_string(p.dim()));
    }
    gaussian_stats out;
    out.count = g.count;
    out.mean = p.scale.cwiseProduct(g.mean) + p.shift;
    out.covariance = p.scale.asDiagonal() * g.covariance * p.scale.asDiagonal();
    if (g.factor) out.factor = (*g.factor) * p.scale.asDiagonal();
    return out;
}

/// A layer's moment-matched parameters and their immediate effect.
struct moment_match_result {
    layer params;
    index_t degenerate_dims = 0;  ///< dimensions that took the σ_v ≈ 0 rule
    frechet_terms before;         ///< α-scaled, as mir compute reports them
    frechet_terms after;          ///< α-scaled; vision summary mapped in closed form
    [[nodiscard]] double fid_before() const noexcept { return before.value(); }
    [[nodiscard]] double fid_after() const noexcept { return after.value(); }
};

/// Moment matching on one index's statistics, and the FID before and after
/// (α unchanged: the text rows are not calibrated).
[[nodiscard]] inline moment_match_result moment_match(const layer_statistics& s, const moment_match_options& opt = {}) {
    moment_match_result r;
    r.params = moment_matching_layer(s.vision.gaussian, s.text.gaussian, opt, &r.degenerate_dims);
    const double a2 = s.alpha * s.alpha;
    r.before = frechet_distance_terms(s.vision.gaussian, s.text.gaussian).scaled(a2);
    r.after = frechet_distance_terms(apply_affine(s.vision.gaussian, r.params), s.text.gaussian).scaled(a2);
    return r;
}

}  // namespace mir::moca
