// mir/stats/layer_statistics.hpp — the one pipeline that turns a layer's
// rows into its statistics (SPEC §2.1–2.2): the text-centric scale α and,
// per modality, the 3σ rule, the outlier plan applied, and the Gaussian
// summary. The Fréchet layer (mir/metric/layer.hpp, multipass.hpp), the
// streaming accumulator (mir/metric/accumulator.hpp) and MoCa's
// initialiser (mir/moca/moment_init.hpp) all consume layer_statistics.
//
// Three ways in, one result:
//   compute_layer_statistics             rows in memory (here)
//   compute_layer_statistics_multipass   a replayable source, exact, in
//                                        memory that does not grow with the
//                                        rows (beyond one norm per row), by
//                                        passes that may be split among
//                                        participants (stats/layer_passes.hpp)
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

}  // namespace mir
