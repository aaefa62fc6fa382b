// mir/stats/modality.hpp — one modality's statistics after the outlier
// policy (SPEC §2.2–2.3): the Gaussian summary that enters the Fréchet
// distance, and what the policy did.
//
//   none            moments of all rows
//   drop            moments of the inliers
//   replace-median  moments of the inliers merged (Chan) with n_out copies
//                   of the per-dimension lower median of all rows — the
//                   same numbers as replacing the rows, without a copy
//
// Statistics are raw (unscaled); α² is applied to the Fréchet terms.
#pragma once

#include <Eigen/Core>

#include <cmath>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/metric/frechet.hpp"
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

inline void require_rows(index_t n, index_t minimum, const row_context& ctx, std::string_view why) {
    if (n < minimum) {
        std::string where;
        if (ctx.layer >= 0) where += "layer " + std::to_string(ctx.layer) + ", ";
        where += ctx.modality.empty() ? std::string("rows") : std::string(ctx.modality) + " rows";
        throw too_few_rows_error(where + ": " + std::to_string(n) + " " + std::string(why) +
                                 "; a covariance needs at least " + std::to_string(minimum));
    }
}

/// Count, mean, Bessel covariance — and the factor when count < d.
/// `rows_for_factor` gathers the (fewer than d) final rows, in fp64;
/// pass nullptr where the rows are no longer at hand.
template <accumulator_type Acc, class Gather>
gaussian_stats finish_gaussian(const moments<Acc>& m, Gather&& rows_for_factor) {
    gaussian_stats g;
    g.count = m.count();
    g.mean = m.mean_f64();
    g.covariance = m.covariance();
    if constexpr (!std::is_null_pointer_v<std::remove_cvref_t<Gather>>) {
        if (g.count < m.dim()) {
        Eigen::MatrixXd f = rows_for_factor();  // count x d
        f.rowwise() -= g.mean.transpose();
        f /= std::sqrt(static_cast<double>(g.count - 1));
        g.factor = std::move(f);
        }
    }
    return g;
}

}  // namespace detail

/// Statistics of one modality from all its rows (the per-layer path).
/// `norms` are the rows' L2 norms (row_norms), passed in because the text
/// side's also give α.
template <accumulator_type Acc = double, element T>
[[nodiscard]] modality_stats modality_statistics(const row_view<T>& rows, std::span<const double> norms,
                                                 outlier_policy policy, const row_context& ctx = {}) {
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

    std::vector<index_t> kept;
    if (policy != outlier_policy::none) {
        kept.reserve(static_cast<std::size_t>(rows.rows));
        for (index_t i = 0; i < rows.rows; ++i) {
            if (!out.rule.is_outlier(norms[static_cast<std::size_t>(i)])) kept.push_back(i);
        }
        out.outliers = rows.rows - static_cast<index_t>(kept.size());
    }

    Eigen::VectorXd median;
    if (policy == outlier_policy::none || out.outliers == 0) {
        m.add(rows);
    } else {
        m.add(rows, kept);
        if (policy == outlier_policy::replace_median) {
            median = per_dimension_lower_median(rows);
            m.add_constant(median, out.outliers);
        } else {
            detail::require_rows(m.count(), 2, ctx, "rows remain after dropping outliers");
        }
    }

    out.gaussian = detail::finish_gaussian(m, [&] {
        Eigen::MatrixXd f(m.count(), d);
        index_t r = 0;
        for (index_t i = 0; i < rows.rows; ++i) {
            const bool outlier = policy != outlier_policy::none && out.rule.is_outlier(norms[static_cast<std::size_t>(i)]);
            if (outlier && policy == outlier_policy::drop) continue;
            if (outlier) {
                f.row(r++) = median.transpose();
            } else {
                for (index_t j = 0; j < d; ++j) f(r, j) = to_acc<double>(rows.row(i)[j]);
                ++r;
            }
        }
        return f;
    });
    return out;
}

}  // namespace mir
