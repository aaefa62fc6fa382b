// mir/linalg/eigenvalues.hpp — the one shared rule for rounding-level
// eigenvalues (SPEC §2.3), and the sum of square roots built on it.
//
// The eigenvalues of a symmetric PSD matrix computed in floating point come
// back with tiny negative and tiny positive "zero" eigenvalues. Both are
// rounding noise: summing their square roots biases the trace. Every
// caller in the library uses this cut-off:
//     λ ≤ λ_max · n · ε   counts as zero
// (n the order of the eigenproblem, ε the unit roundoff of the type).
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <limits>

#include "mir/element.hpp"

namespace mir {

/// The threshold below which an eigenvalue of an order-n symmetric PSD
/// eigenproblem is rounding noise.
template <class Real = double>
[[nodiscard]] constexpr Real eigenvalue_cutoff(Real lambda_max, index_t n) noexcept {
    return std::max(lambda_max, Real(0)) * static_cast<Real>(n) * std::numeric_limits<Real>::epsilon();
}

/// What sum_sqrt_eigenvalues saw: how many eigenvalues it counted as zero,
/// and the most negative one (to tell rounding from a non-PSD input).
struct eigenvalue_summary {
    double sum_sqrt = 0.0;
    double lambda_max = 0.0;
    double lambda_min = 0.0;
    index_t order = 0;
    index_t zeroed = 0;  ///< eigenvalues at or below the cut-off
};

/// Σ √λ over the eigenvalues above the cut-off.
[[nodiscard]] inline eigenvalue_summary sum_sqrt_eigenvalues(const Eigen::Ref<const Eigen::VectorXd>& lambda) {
    eigenvalue_summary s;
    s.order = lambda.size();
    if (s.order == 0) return s;
    s.lambda_max = lambda.maxCoeff();
    s.lambda_min = lambda.minCoeff();
    const double cut = eigenvalue_cutoff(s.lambda_max, s.order);
    for (index_t i = 0; i < s.order; ++i) {
        if (lambda[i] > cut) {
            s.sum_sqrt += std::sqrt(lambda[i]);
        } else {
            ++s.zeroed;
        }
    }
    return s;
}

}  // namespace mir
