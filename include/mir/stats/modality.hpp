// mir/stats/modality.hpp — one modality's statistics after the outlier
// policy (SPEC §2.2–2.3): the Gaussian summary that enters the Fréchet
// distance, and what the policy did. The policy is read only through its
// outlier_plan (mir/stats/outliers.hpp):
//
//   flags = false   moments of all rows
//   removed         moments of the inliers
//   replaced        moments of the inliers merged (Chan) with n_out copies
//                   of the stand-in row — the same numbers as replacing
//                   the rows, without a copy
//
// Statistics are raw (unscaled); α² is applied to the Fréchet terms.
#pragma once

#include <Eigen/Core>

#include <algorithm>

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/stats/gaussian.hpp"
#include "mir/stats/moments.hpp"
#include "mir/stats/norms.hpp"
#include "mir/stats/outliers.hpp"

namespace mir {

/// One modality after the outlier policy.
struct modality_stats {
    gaussian_stats gaussian;     ///< of the rows that entered the statistics (raw units)
    index_t input_rows = 0;      ///< rows given
    index_t outliers = 0;        ///< rows the policy replaced or dropped (0 under none)
    outlier_rule rule;           ///< the 3σ rule fitted to the norms
    bool median_exact = true;    ///< replace-median: the median vector is exact
    bool outliers_exact = true;  ///< streaming: every outlier row was still buffered
};

namespace detail {

/// The one place a plan's stand-ins join the inlier moments: once `m` holds
/// every row that enters as it is, adds the `outliers` stand-in rows the
/// plan asks for and checks that at least two rows remain. `median()`
/// yields the per-dimension median of all rows (called only if the plan
/// needs it). Returns the stand-in row, if any (for the data factor).
template <accumulator_type Acc, class Median>
std::optional<Eigen::VectorXd> add_stand_ins(const outlier_plan& plan, moments<Acc>& m, index_t outliers,
                                             Median&& median, const row_context& ctx) {
    std::optional<Eigen::VectorXd> row;
    if (plan.flags && plan.replaces && outliers > 0) {
        switch (plan.stand_in) {
            case outlier_stand_in::dimension_median: row = median(); break;
            case outlier_stand_in::none: break;
        }
        if (row) m.add_constant(*row, outliers);
    }
    require_rows(m.count(), 2, ctx, "rows remain after dropping outliers");
    return row;
}

}  // namespace detail

/// Statistics of one modality from all its rows (the per-layer path).
/// `norms` are the rows' L2 norms (row_norms), passed in because the text
/// side's also give α.
template <accumulator_type Acc = double, element T>
[[nodiscard]] modality_stats modality_statistics(const row_view<T>& rows, std::span<const double> norms,
                                                 outlier_policy policy, const row_context& ctx = {}) {
    const outlier_plan plan = plan_of(policy);
    modality_stats out;
    out.input_rows = rows.rows;
    detail::require_rows(rows.rows, 2, ctx, "rows given");
    if (static_cast<index_t>(norms.size()) != rows.rows) {
        throw shape_error("modality_statistics: " + std::to_string(norms.size()) + " norms for " +
                          std::to_string(rows.rows) + " rows");
    }
    out.rule = outlier_rule::fit(norms);
    const index_t d = rows.cols;
    moments<Acc> m(d);
    m.set_scale(moments<Acc>::scale_for(norms.empty() ? 0.0 : *std::max_element(norms.begin(), norms.end())));

    std::vector<index_t> kept;
    if (plan.flags) {
        kept.reserve(static_cast<std::size_t>(rows.rows));
        for (index_t i = 0; i < rows.rows; ++i) {
            if (!out.rule.is_outlier(norms[static_cast<std::size_t>(i)])) kept.push_back(i);
        }
        out.outliers = rows.rows - static_cast<index_t>(kept.size());
    }
    if (out.outliers == 0) {
        m.add(rows);
    } else {
        m.add(rows, kept);
    }
    const std::optional<Eigen::VectorXd> stand_in =
        detail::add_stand_ins(plan, m, out.outliers, [&] { return per_dimension_lower_median(rows); }, ctx);

    out.gaussian = detail::finish_gaussian(
        m,
        [&] {
            Eigen::MatrixXd f(m.count(), d);
            index_t r = 0;
            const auto copy = [&](index_t i) {
                for (index_t j = 0; j < d; ++j) f(r, j) = to_acc<double>(rows.row(i)[j]);
                ++r;
            };
            if (out.outliers == 0) {
                for (index_t i = 0; i < rows.rows; ++i) copy(i);
            } else {
                for (index_t i : kept) copy(i);
            }
            for (; r < f.rows(); ++r) f.row(r) = stand_in->transpose();
            return f;
        },
        ctx);
    return out;
}

}  // namespace mir
