// mir/metric/layer.hpp — one layer's Fréchet distance between vision and
// text rows, with the official pipeline (SPEC §2): the layer's statistics
// (α, the 3σ rule per modality: mir/stats/layer_statistics.hpp), then FID
// in α-scaled units.
#pragma once

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/metric/frechet.hpp"
#include "mir/precision.hpp"
#include "mir/progress.hpp"
#include "mir/stats/layer_statistics.hpp"
#include "mir/stats/modality.hpp"
#include "mir/stats/outliers.hpp"

namespace mir {

/// Options of the per-layer pipeline.
struct layer_options {
    outlier_policy policy = outlier_policy::replace_median;
    mir::precision precision = mir::precision::fp64;
    sqrt_options sqrt = sqrt_method::exact;  ///< method and its controls (assign a sqrt_method for the defaults)
    int layer = -1;  ///< hidden-state index, for results and error messages
    /// Called as the computation goes (mir/progress.hpp): after every chunk of
    /// rows of every pass (multipass), when the square root starts and after
    /// each of its iterations (unless sqrt.progress is set: then that one).
    progress_callback progress;

    /// The square-root options with `progress` reaching them.
    [[nodiscard]] sqrt_options sqrt_with_progress() const {
        sqrt_options s = sqrt;
        if (!s.progress) s.progress = progress;
        return s;
    }
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
    double fid = 0.0;      ///< terms.value(), or 0 when that is within ±fid_bound (never a rounding-level negative)
    double fid_bound = 0.0;  ///< terms.rounding_bound(): the rounding level of the formula for these statistics
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

}  // namespace detail

/// One layer's result from its statistics (any of the pipelines of
/// mir/stats/layer_statistics.hpp): the Fréchet terms, α-scaled. Under
/// sqrt_method::official_fast (an emulation, not a Fréchet distance) the
/// float32 loop runs on the α-scaled covariances, as the official code runs
/// it on α-scaled rows: the seam where the emulation meets the statistics.
[[nodiscard]] inline layer_result compute_layer(const layer_statistics& s, const sqrt_options& method_in = {}) {
    sqrt_options method = method_in;
    if (method_in.progress) {  // every report names the layer; one when the square root starts
        method.progress = [&method_in, layer = s.layer](const progress_event& e) {
            progress_event named = e;
            named.layer = layer;
            method_in.progress(named);
        };
        progress_event start;
        start.stage = progress_stage::square_root;
        start.layer = s.layer;
        method_in.progress(start);
    }
    layer_result r;
    r.layer = s.layer;
    r.alpha = s.alpha;
    const double a2 = s.alpha * s.alpha;
    r.terms = method.method == sqrt_method::official_fast
                  ? official_fast_terms(s.vision.gaussian, s.text.gaussian, a2)
                  : frechet_distance_terms(s.vision.gaussian, s.text.gaussian, method).scaled(a2);
    r.terms.dim = s.vision.gaussian.dim();
    r.terms.epsilon = s.epsilon;
    const double value = r.terms.value();
    r.fid_bound = r.terms.rounding_bound();
    r.fid = std::abs(value) <= r.fid_bound ? 0.0 : value;
    r.vision = detail::summarize(s.vision);
    r.text = detail::summarize(s.text);
    r.exact = s.vision.median_exact && s.text.median_exact && s.vision.outliers_exact && s.text.outliers_exact;
    return r;
}

/// The per-layer API: vision rows and text rows of one layer → its result.
/// Throws on bad input (dimension mismatch, fewer than 2 rows in a
/// modality, NaN/Inf — the message names layer, modality and row).
template <element TV, element TT>
[[nodiscard]] layer_result compute_layer(const row_view<TV>& vision, const row_view<TT>& text,
                                         const layer_options& opt = {}) {
    return with_precision(opt.precision, [&]<class Acc>() {
        return compute_layer(compute_layer_statistics<Acc>(vision, text, opt.policy, opt.layer),
                             opt.sqrt_with_progress());
    });
}

}  // namespace mir
