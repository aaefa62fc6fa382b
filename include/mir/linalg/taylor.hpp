// mir/linalg/taylor.hpp — the matrix Taylor polynomial ("MTP") for A^{1/2}
// of Song et al., "Fast Differentiable Matrix Square Root" (ICLR 2022):
//
//   X = A/c (c = ‖A‖_F),  A^{1/2} = √c (I − Z)^{1/2}, Z = I − X,
//   (1 − z)^{1/2} ≈ Σ_{k=0}^{K} a_k z^k,  a₀ = 1, a_k = a_{k−1}(k − 3/2)/k.
//
// A fixed number of matrix products (Horner), no iteration and no inverse.
// The series converges for eigenvalues of X in (0, 1], but near the branch
// point z = 1 (small eigenvalues) its truncation error decays only like
// K^{-1/2}: an ill-conditioned A keeps a large error in its small
// eigenvalues whatever K. The residual reported is SPEC §4's
// ‖S² − X‖_F / ‖X‖_F (one extra product).
#pragma once

#include <Eigen/Core>

#include <cmath>

#include "mir/backend/backend.hpp"
#include "mir/linalg/matrix_sqrt.hpp"

namespace mir {

/// The Taylor coefficients a_0..a_K of √(1 − z), in long double.
[[nodiscard]] inline Eigen::Matrix<long double, Eigen::Dynamic, 1> sqrt_taylor_coefficients(int degree) {
    Eigen::Matrix<long double, Eigen::Dynamic, 1> a(degree + 1);
    a[0] = 1.0L;
    for (int k = 1; k <= degree; ++k) a[k] = a[k - 1] * (static_cast<long double>(k) - 1.5L) / static_cast<long double>(k);
    return a;
}

namespace detail {

/// p(Z) by Horner's rule, Z = I − X (`deg` products).
template <class Real, class Coeffs>
backend::matrix<Real> horner(const Coeffs& p, const backend::matrix<Real>& zm) {
    const index_t d = zm.rows();
    const auto deg = static_cast<index_t>(p.size()) - 1;
    backend::matrix<Real> s = backend::matrix<Real>::Identity(d, d) * static_cast<Real>(p[deg]);
    backend::matrix<Real> t;
    for (index_t k = deg - 1; k >= 0; --k) {
        backend::active::gemm<Real>(s, zm, t);
        t.diagonal().array() += static_cast<Real>(p[k]);
        s.swap(t);
    }
    return s;
}

/// ‖S² − X‖_F / ‖X‖_F.
template <class Real>
double square_residual(const backend::matrix<Real>& s, const backend::matrix<Real>& x) {
    backend::matrix<Real> s2;
    backend::active::gemm<Real>(s, s, s2);
    const double nx = x.template cast<double>().norm();
    return nx > 0.0 ? (s2.template cast<double>() - x.template cast<double>()).norm() / nx : 0.0;
}

}  // namespace detail

/// A^{1/2} by the degree-K Taylor polynomial (A symmetric PSD or a product of two such).
template <class Real>
[[nodiscard]] matrix_sqrt_result<Real> taylor_sqrt(const backend::matrix<Real>& a, int degree = 10) {
    using M = backend::matrix<Real>;
    matrix_sqrt_result<Real> out;
    const double c = detail::normalize_or_zero<Real>(a, sqrt_normalization::frobenius, out);
    if (c == 0.0) return out;
    const M x = a / static_cast<Real>(c);
    M zm = -x;
    zm.diagonal().array() += Real(1);
    M s = detail::horner<Real>(sqrt_taylor_coefficients(degree < 0 ? 0 : degree), zm);
    out.residual = detail::square_residual<Real>(s, x);
    if (!s.allFinite()) {
        out.status = sqrt_status::breakdown;
        s.setZero();
    }
    out.sqrt = s * static_cast<Real>(std::sqrt(c));
    return out;
}

}  // namespace mir
