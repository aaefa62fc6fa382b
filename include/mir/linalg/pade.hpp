// mir/linalg/pade.hpp — the matrix Padé approximant ("MPA") for A^{1/2} of
// Song et al., "Fast Differentiable Matrix Square Root" (ICLR 2022):
//
//   X = A/c (c = ‖A‖_F), Z = I − X,  (1 − z)^{1/2} ≈ p_m(z) / q_n(z),
//   A^{1/2} ≈ √c · q_n(Z)⁻¹ p_m(Z)   (one linear solve).
//
// The [m/n] coefficients are computed once, in long double, from the
// Taylor coefficients a_k (mir/linalg/taylor.hpp): q₀ = 1 and
// Σ_{j=0}^{n} q_j a_{i−j} = 0 for i = m+1 … m+n, then p_i = Σ_j q_j a_{i−j}.
// The approximant matches m + n + 1 Taylor terms and is much better than
// the Taylor polynomial of the same cost near z = 1, but, like every
// fixed-degree rational function, it cannot follow √x down to the small
// eigenvalues of an ill-conditioned A. The residual reported is
// ‖S² − X‖_F / ‖X‖_F.
#pragma once

#include <Eigen/Core>
#include <Eigen/LU>

#include <algorithm>
#include <cmath>
#include <utility>

#include "mir/backend/backend.hpp"
#include "mir/linalg/matrix_sqrt.hpp"
#include "mir/linalg/taylor.hpp"

namespace mir {

/// Coefficients (p_0..p_m, q_0..q_n) of the [m/n] Padé approximant of √(1 − z).
[[nodiscard]] inline std::pair<Eigen::Matrix<long double, Eigen::Dynamic, 1>, Eigen::Matrix<long double, Eigen::Dynamic, 1>>
sqrt_pade_coefficients(int m, int n) {
    using V = Eigen::Matrix<long double, Eigen::Dynamic, 1>;
    using Mat = Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic>;
    const V a = sqrt_taylor_coefficients(m + n);
    const auto at = [&](int i) { return i < 0 ? 0.0L : a[i]; };
    V q = V::Zero(n + 1);
    q[0] = 1.0L;
    if (n > 0) {
        Mat sys(n, n);
        V rhs(n);
        for (int i = 0; i < n; ++i) {
            for (int j = 1; j <= n; ++j) sys(i, j - 1) = at(m + 1 + i - j);
            rhs[i] = -at(m + 1 + i);
        }
        q.tail(n) = sys.partialPivLu().solve(rhs);
    }
    V p(m + 1);
    for (int i = 0; i <= m; ++i) {
        long double s = 0.0L;
        for (int j = 0; j <= std::min(i, n); ++j) s += q[j] * at(i - j);
        p[i] = s;
    }
    return {p, q};
}

/// A^{1/2} by the [m/n] Padé approximant (A symmetric PSD or a product of two such).
template <class Real>
[[nodiscard]] matrix_sqrt_result<Real> pade_sqrt(const backend::matrix<Real>& a, int m = 5, int n = 5) {
    using M = backend::matrix<Real>;
    const index_t d = a.rows();
    matrix_sqrt_result<Real> out;
    const double c = detail::normalize_or_zero<Real>(a, sqrt_normalization::frobenius, out);
    if (c == 0.0) return out;
    const auto [p, q] = sqrt_pade_coefficients(std::max(m, 0), std::max(n, 0));
    const M x = a / static_cast<Real>(c);
    M zm = -x;
    zm.diagonal().array() += Real(1);
    M s = detail::horner<Real>(p, zm);
    M qm = detail::horner<Real>(q, zm);
    if (!backend::active::solve_inplace<Real>(qm, s)) {
        out.status = sqrt_status::breakdown;
        out.sqrt = M::Zero(d, d);
        out.residual = 1.0;
        return out;
    }
    out.residual = detail::square_residual<Real>(s, x);
    out.sqrt = s * static_cast<Real>(std::sqrt(c));
    return out;
}

}  // namespace mir
