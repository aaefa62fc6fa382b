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

#include <cmath>
#include <string>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/metric/frechet.hpp"
#include "mir/moca/layer.hpp"
#include "mir/stats/gaussian.hpp"
#include "mir/stats/layer_passes.hpp"

namespace mir::moca {

// The statistics come from the one pipeline of mir/stats/layer_statistics.hpp
// (mir::compute_layer_statistics, mir::compute_layer_statistics_multipass,
// mir_accumulator::statistics): the same numbers MIR is computed from.
using mir::layer_statistics;

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
[[nodiscard]] inline layer_calibration moment_matching_layer(const gaussian_stats& vision, const gaussian_stats& text,
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
    layer_calibration p(d);
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
[[nodiscard]] inline gaussian_stats apply_affine(const gaussian_stats& g, const layer_calibration& p) {
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
    layer_calibration params;
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
