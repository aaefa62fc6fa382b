// mir/metric/frechet.hpp — the Fréchet distance between two Gaussians
// (SPEC §2.3):
//   FID = ‖μ₁ − μ₂‖² + Tr Σ₁ + Tr Σ₂ − 2·Tr (Σ₁ Σ₂)^{1/2}.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "mir/error.hpp"
#include "mir/linalg/official_fast.hpp"
#include "mir/linalg/sqrt_methods.hpp"
#include "mir/linalg/trace_sqrt.hpp"
#include "mir/stats/gaussian.hpp"

namespace mir {

/// The four terms of the Fréchet distance, and the route of the square root.
struct frechet_terms {
    double mean_term = 0.0;   ///< ‖μ₁ − μ₂‖²
    double trace_1 = 0.0;     ///< Tr Σ₁
    double trace_2 = 0.0;     ///< Tr Σ₂
    double trace_sqrt = 0.0;  ///< Tr (Σ₁ Σ₂)^{1/2}
    trace_sqrt_route route = trace_sqrt_route::empty;
    int sqrt_iterations = 0;      ///< iterative methods: iterations performed (else 0)
    double sqrt_residual = 0.0;   ///< approximate methods: the method's residual (scale-free; else 0)
    sqrt_status sqrt_outcome = sqrt_status::not_iterative;  ///< how the method ended
    index_t dim = 0;                                        ///< d, for rounding_bound()
    double epsilon = 0x1p-52;  ///< unit roundoff of the statistics (their accumulation type), for rounding_bound()
    bool iterative = false;  ///< sqrt_residual bounds the relative error of trace_sqrt (Newton–Schulz, Denman–Beavers)

    /// mean_term + trace_1 + trace_2 − 2·trace_sqrt, unclamped. A value
    /// within ±rounding_bound() is rounding (identical sets give ±1e-16·scale);
    /// compute_layer reports it as 0.
    [[nodiscard]] double value() const noexcept { return mean_term + trace_1 + trace_2 - 2.0 * trace_sqrt; }

    /// The rounding level of value(): how far from the true FID of these
    /// statistics the evaluation of the formula can be, in the terms' units,
    ///   B = 4 (d + 3) ε (mean_term + trace_1 + trace_2 + 2 |trace_sqrt|) + 2 |trace_sqrt| r,
    /// ε = `epsilon`, the unit roundoff of the statistics' accumulation (2^-52
    /// for fp64; 2^-23 for fp32, whose terms carry fp32 rounding), r =
    /// sqrt_residual for the iterative methods that converged or stagnated
    /// (their stopping rule bounds the relative error of trace_sqrt by it),
    /// else 0 (direct methods; max-iter, breakdown).
    /// Derivation: ‖μ₁ − μ₂‖², Tr Σ₁ and Tr Σ₂ are sums of d non-negative
    /// terms (relative error ≤ (d + 1) ε each); Tr (Σ₁Σ₂)^{1/2} is a sum of d
    /// square roots of eigenvalues of a backward-stable symmetric
    /// eigensolver, taken with the same relative error (which holds for the
    /// dominant eigenvalues; a tiny eigenvalue's root can be off by more, by
    /// at most √(d ε ‖Σ₁Σ₂‖) — such a layer's value can fall just outside B);
    /// the final sum of four terms adds 3 ε of their magnitude. The factor 4
    /// is headroom. B is a bound on rounding, not on sampling error.
    [[nodiscard]] double rounding_bound() const noexcept {
        const double eps = std::max(epsilon, std::numeric_limits<double>::epsilon());
        const double magnitude = std::abs(mean_term) + std::abs(trace_1) + std::abs(trace_2) +
                                 2.0 * std::abs(trace_sqrt);
        // The residual bounds the error only when the iteration ended on it (converged, or at the rounding floor);
        // a layer stopped by max-iter or a breakdown is not reliable and is not hidden behind a large bound.
        const bool settled = sqrt_outcome == sqrt_status::converged || sqrt_outcome == sqrt_status::stagnated;
        const double r = iterative && settled && std::isfinite(sqrt_residual) ? std::abs(sqrt_residual) : 0.0;
        return 4.0 * (static_cast<double>(dim) + 3.0) * eps * magnitude + 2.0 * std::abs(trace_sqrt) * r;
    }

    /// The terms of the rows scaled by a factor whose square is s
    /// (FID(αX, αY) = α² FID(X, Y): s = α²). Tr(Σ₁Σ₂) of reference-fast is
    /// quartic in the scale, so it takes s²; so does the official-fast
    /// emulation's trace (its loop is homogeneous of degree one in Σ₁Σ₂, up
    /// to float32 rounding — compute_layer therefore runs it on the scaled
    /// covariances instead, as the official code does; official_fast_terms).
    [[nodiscard]] frechet_terms scaled(double s) const noexcept {
        const bool quartic = route == trace_sqrt_route::reference_fast || route == trace_sqrt_route::official_fast;
        const double st = quartic ? s * s : s;
        frechet_terms t = *this;
        t.mean_term *= s;
        t.trace_1 *= s;
        t.trace_2 *= s;
        t.trace_sqrt *= st;
        return t;
    }
};

namespace detail {
inline void check_gaussian(const Eigen::VectorXd& mu, const Eigen::MatrixXd& s, std::string_view name) {
    if (s.rows() != mu.size() || s.cols() != mu.size()) {
        throw shape_error("frechet_distance: " + std::string(name) + " has a mean of size " +
                          std::to_string(mu.size()) + " but a " + std::to_string(s.rows()) + " x " +
                          std::to_string(s.cols()) + " covariance");
    }
    if (!mu.allFinite()) throw non_finite_error("frechet_distance: the mean of " + std::string(name) + " is not finite");
}
}  // namespace detail

namespace detail {
/// Both summaries checked (finite, matching dimensions) and the terms that
/// need no square root: dim, mean term and traces, times `scale`.
[[nodiscard]] inline frechet_terms moment_terms(const gaussian_stats& a, const gaussian_stats& b, double scale = 1.0) {
    check_gaussian(a.mean, a.covariance, "the first set");
    check_gaussian(b.mean, b.covariance, "the second set");
    if (a.dim() != b.dim()) {
        throw shape_error("frechet_distance: dimensions differ (" + std::to_string(a.dim()) + " vs " +
                          std::to_string(b.dim()) + ")");
    }
    frechet_terms t;
    t.dim = a.dim();
    t.mean_term = scale * (a.mean - b.mean).squaredNorm();
    t.trace_1 = scale * a.covariance.trace();
    t.trace_2 = scale * b.covariance.trace();
    return t;
}
}  // namespace detail

/// The terms under the EMULATION of the official fast mode (SPEC §3,
/// mir/linalg/official_fast.hpp), already in the units of rows scaled by a
/// factor whose square is `scale` (α² for the official text-centric scale):
/// the covariances are scaled in fp64 and rounded to float32 before the
/// float32 loop; the mean term and the traces are fp64. trace_sqrt holds the
/// loop's trace — not a square root — and route is official_fast.
[[nodiscard]] inline frechet_terms official_fast_terms(const gaussian_stats& a, const gaussian_stats& b,
                                                       double scale = 1.0) {
    frechet_terms t = detail::moment_terms(a, b, scale);
    const official_fast_result r = official_fast_trace(a.covariance, b.covariance, scale);
    const bool finite = std::isfinite(r.value);
    t.trace_sqrt = finite ? r.value : 0.0;
    t.route = trace_sqrt_route::official_fast;
    t.sqrt_iterations = r.iterations;
    t.sqrt_outcome = finite ? r.status : sqrt_status::breakdown;
    return t;
}

/// All terms, from two Gaussian summaries. The exact method uses the
/// small-side route when one side has a factor with fewer rows than d (the
/// smaller one wins); the approximate methods work on the d × d covariances
/// in the form the options say (mir/linalg/sqrt_methods.hpp). Under
/// sqrt_method::reference_fast, trace_sqrt holds Tr(Σ₁Σ₂) instead; under
/// sqrt_method::official_fast, official_fast_terms at scale 1.
[[nodiscard]] inline frechet_terms frechet_distance_terms(const gaussian_stats& a, const gaussian_stats& b,
                                                          const sqrt_options& sqrt = {}) {
    const sqrt_method method = sqrt.method;
    frechet_terms t = detail::moment_terms(a, b);
    if (method == sqrt_method::reference_fast) {
        t.trace_sqrt = trace_of_product(a.covariance, b.covariance);
        t.route = trace_sqrt_route::reference_fast;
        return t;
    }
    if (method == sqrt_method::official_fast) return official_fast_terms(a, b);
    if (method != sqrt_method::exact) {
        const sqrt_result r = trace_sqrt_with(a.covariance, b.covariance, sqrt);
        t.trace_sqrt = r.value;
        t.route = r.route;
        t.sqrt_iterations = r.iterations;
        t.sqrt_residual = r.residual;
        t.sqrt_outcome = r.status;
        t.iterative = info(method).iterative;
        return t;
    }
    const index_t d = a.dim();
    const auto small = [d](const gaussian_stats& g) {
        return g.factor && g.factor->rows() < d ? g.factor->rows() : d + 1;
    };
    trace_sqrt_result r;
    if (small(a) <= d && small(a) <= small(b)) {
        r = trace_sqrt_product_factor(*a.factor, b.covariance);
    } else if (small(b) <= d) {
        r = trace_sqrt_product_factor(*b.factor, a.covariance);
    } else {
        r = trace_sqrt_product_detailed(a.covariance, b.covariance);
    }
    t.trace_sqrt = r.value;
    t.route = r.route;
    if (r.status != trace_sqrt_status::ok) t.sqrt_outcome = sqrt_status::solver_failed;
    return t;
}

/// FID between N(μ₁, S1) and N(μ₂, S2); S1, S2 symmetric PSD.
[[nodiscard]] inline double frechet_distance(const Eigen::VectorXd& mu1, const Eigen::MatrixXd& s1,
                                             const Eigen::VectorXd& mu2, const Eigen::MatrixXd& s2) {
    detail::check_gaussian(mu1, s1, "the first set");
    detail::check_gaussian(mu2, s2, "the second set");
    if (mu1.size() != mu2.size()) {
        throw shape_error("frechet_distance: dimensions differ (" + std::to_string(mu1.size()) + " vs " +
                          std::to_string(mu2.size()) + ")");
    }
    const trace_sqrt_result r = trace_sqrt_product_detailed(s1, s2);
    if (r.status != trace_sqrt_status::ok) {
        throw numerical_error("frechet_distance: the symmetric eigenvalue solver did not converge");
    }
    return (mu1 - mu2).squaredNorm() + s1.trace() + s2.trace() - 2.0 * r.value;
}

}  // namespace mir
