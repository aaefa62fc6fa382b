// mir/linalg/sqrtm.hpp — the exact principal square root of a symmetric
// positive semi-definite matrix, by eigendecomposition: S^{1/2} = V Λ^{1/2} Vᵀ,
// with the eigenvalues at or below the shared cut-off (mir/linalg/eigenvalues.hpp)
// set to zero, so rounding-level negative eigenvalues never produce a NaN.
// (For the trace of a product, mir/linalg/trace_sqrt.hpp needs no
// eigenvectors; this full root is for tests and comparisons.)
#pragma once

#include <Eigen/Core>

#include <cmath>

#include "mir/backend/backend.hpp"
#include "mir/linalg/eigenvalues.hpp"
#include "mir/linalg/trace_sqrt.hpp"

namespace mir {

/// S^{1/2} for symmetric PSD S (lower triangle read). Symmetric result.
[[nodiscard]] inline Eigen::MatrixXd sqrtm_psd(const Eigen::MatrixXd& s) {
    detail::check_covariance(s, "sqrtm_psd: S");
    const index_t d = s.rows();
    if (d == 0) return Eigen::MatrixXd(0, 0);
    Eigen::VectorXd lambda;
    Eigen::MatrixXd v;
    if (!backend::active::symmetric_eigen_decomposition(s, lambda, v)) {
        throw numerical_error("sqrtm_psd: the symmetric eigenvalue solver did not converge");
    }
    const double cut = eigenvalue_cutoff(lambda.maxCoeff(), d);
    Eigen::VectorXd r(d);
    for (index_t i = 0; i < d; ++i) r[i] = lambda[i] > cut ? std::sqrt(std::sqrt(lambda[i])) : 0.0;
    const Eigen::MatrixXd w = v * r.asDiagonal();  // V Λ^{1/4}
    return w * w.transpose();
}

}  // namespace mir
