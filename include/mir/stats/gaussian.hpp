// mir/stats/gaussian.hpp — the Gaussian summary of one row set (count,
// mean, Bessel covariance, and a data factor when the set has fewer rows
// than d): what the statistics hand to the Fréchet distance.
#pragma once

#include <Eigen/Core>

#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/stats/moments.hpp"
#include "mir/stats/norms.hpp"

namespace mir {

/// Count, mean, covariance (Bessel) and, when the set has fewer rows than
/// d, a factor F (count × d) with covariance = Fᵀ F that enables the
/// small-side route of the trace square root.
struct gaussian_stats {
    index_t count = 0;
    Eigen::VectorXd mean;
    Eigen::MatrixXd covariance;
    std::optional<Eigen::MatrixXd> factor;

    [[nodiscard]] index_t dim() const noexcept { return mean.size(); }
};

namespace detail {

/// Throws too_few_rows_error naming layer and modality when n < minimum.
inline void require_rows(index_t n, index_t minimum, const row_context& ctx, std::string_view why) {
    if (n < minimum) {
        const std::string rows = ctx.modality.empty() ? std::string("rows") : std::string(ctx.modality) + " rows";
        throw too_few_rows_error(rows + ": " + std::to_string(n) + " " + std::string(why) +
                                     "; a covariance needs at least " + std::to_string(minimum),
                                 ctx.where());
    }
}

/// Count, mean, Bessel covariance — and the factor when count < d.
/// `rows_for_factor` gathers the (fewer than d) final rows, in fp64;
/// pass nullptr where the rows are no longer at hand. Statistics that are
/// not finite (finite rows whose moments leave Acc's range even scaled)
/// are a numerical_error naming the layer, the modality and the precision.
template <accumulator_type Acc, class Gather>
gaussian_stats finish_gaussian(const moments<Acc>& m, Gather&& rows_for_factor, const row_context& ctx = {}) {
    gaussian_stats g;
    g.count = m.count();
    g.mean = m.mean_f64();
    g.covariance = m.covariance();
    if (!g.mean.allFinite() || !g.covariance.allFinite()) {
        throw numerical_error(std::string(ctx.modality.empty() ? "the" : ctx.modality) +
                                  " statistics are not finite in " + (sizeof(Acc) == 4 ? "fp32" : "fp64") +
                                  " accumulation: the rows' moments are beyond its range (try --precision fp64)",
                              ctx.where());
    }
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
}  // namespace mir
