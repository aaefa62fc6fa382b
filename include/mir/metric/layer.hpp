// mir/metric/layer.hpp — one layer's Fréchet distance between vision and
// text rows, with the official pipeline (SPEC §2): text-centric scale α,
// the 3σ rule per modality, then FID in α-scaled units.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/metric/frechet.hpp"
#include "mir/stats/modality.hpp"
#include "mir/stats/moments.hpp"
#include "mir/stats/norms.hpp"
#include "mir/stats/outliers.hpp"
#include "mir/stats/scale.hpp"

namespace mir {

/// Options of the per-layer pipeline.
struct layer_options {
    outlier_policy policy = outlier_policy::replace_median;
    mir::precision precision = mir::precision::fp64;
    sqrt_options sqrt = sqrt_method::exact;  ///< method and its controls (assign a sqrt_method for the defaults)
    int layer = -1;  ///< hidden-state index, for results and error messages
};

/// What one modality contributed to a layer.
struct modality_summary {
    index_t rows = 0;         ///< rows that entered the statistics (after dropping, under drop)
    index_t outliers = 0;     ///< rows the policy replaced or dropped (0 under none)
    double norm_median = 0;   ///< lower median of the raw row norms
    double norm_sigma = 0;    ///< Bessel std of the raw row norms
};

/// One layer: FID and its terms in α-scaled units, and what produced them.
struct layer_result {
    int layer = -1;
    double alpha = 0.0;    ///< text-centric scale
    frechet_terms terms;   ///< α-scaled: fid = mean + Tr Σv + Tr Σt − 2 Tr(ΣvΣt)^{1/2}
    double fid = 0.0;
    modality_summary vision;
    modality_summary text;
    /// True when every number is the exact pipeline's (false only for the
    /// streaming accumulator's bounded-memory estimates; see mir_accumulator).
    bool exact = true;
};

namespace detail {

inline modality_summary summarize(const modality_stats& s) {
    return {s.gaussian.count, s.outliers, s.rule.median, s.rule.sigma};
}

/// Combines two modalities' raw statistics into the layer result.
inline layer_result combine_layer(int layer, double alpha, const modality_stats& vision,
                                  const modality_stats& text, const sqrt_options& method = {}) {
    layer_result r;
    r.layer = layer;
    r.alpha = alpha;
    r.terms = frechet_distance_terms(vision.gaussian, text.gaussian, method).scaled(alpha * alpha);
    r.fid = r.terms.value();
    r.vision = summarize(vision);
    r.text = summarize(text);
    r.exact = vision.median_exact && text.median_exact && vision.outliers_exact && text.outliers_exact;
    return r;
}

template <accumulator_type Acc, element TV, element TT>
layer_result compute_layer_impl(const row_view<TV>& vision, const row_view<TT>& text, const layer_options& opt) {
    const row_context vctx{opt.layer, "vision", 0};
    const row_context tctx{opt.layer, "text", 0};
    validate_view(vision, "vision rows");
    validate_view(text, "text rows");
    if (vision.cols != text.cols) {
        throw shape_error((opt.layer >= 0 ? "layer " + std::to_string(opt.layer) + ": " : std::string()) +
                          "vision rows have " + std::to_string(vision.cols) + " columns but text rows have " +
                          std::to_string(text.cols));
    }
    detail::require_rows(vision.rows, 2, vctx, "rows given");
    detail::require_rows(text.rows, 2, tctx, "rows given");
    const std::vector<double> vnorms = row_norms(vision, vctx);
    const std::vector<double> tnorms = row_norms(text, tctx);
    const double alpha = text_centric_scale(tnorms);
    const modality_stats v = modality_statistics<Acc>(vision, vnorms, opt.policy, vctx);
    const modality_stats t = modality_statistics<Acc>(text, tnorms, opt.policy, tctx);
    return combine_layer(opt.layer, alpha, v, t, opt.sqrt);
}

}  // namespace detail

/// The per-layer API: vision rows and text rows of one layer → its result.
/// Throws on bad input (dimension mismatch, fewer than 2 rows in a
/// modality, NaN/Inf — the message names layer, modality and row).
template <element TV, element TT>
[[nodiscard]] layer_result compute_layer(const row_view<TV>& vision, const row_view<TT>& text,
                                         const layer_options& opt = {}) {
    if (opt.precision == precision::fp32) return detail::compute_layer_impl<float>(vision, text, opt);
    return detail::compute_layer_impl<double>(vision, text, opt);
}

}  // namespace mir
