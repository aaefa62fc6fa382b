// mir/linalg/newton_schulz.hpp — coupled Newton–Schulz iteration for A^{1/2}
// (SPEC §4; Higham, Functions of Matrices §6.7; Lin & Maji 2017):
//
//   Y₀ = A/c, Z₀ = I,  T_k = ½(3I − Z_k Y_k),  Y_{k+1} = Y_k T_k,  Z_{k+1} = T_k Z_k,
//   A^{1/2} ≈ √c · Y_k,  A^{-1/2} ≈ Z_k / √c.
//
// Only matrix products, in float or double (templated on the scalar).
//
// Stopping rule. Every iterate is a polynomial in A, so in A's eigenbasis
// each eigenvalue x_i of A/c evolves alone: y_i = x_i p_i, z_i = p_i, and
// e_i = z_i y_i follows e ← e(3 − e)²/4 (×2.25 per step while small, then
// quadratically), rising monotonically from x_i to 1 and never above it.
// Since y_i = √(e_i x_i), the relative error of the trace is
//   Σ √x_i (1 − √e_i) / Σ √x_i ≤ max_i (1 − e_i) ≤ Σ_i (1 − e_i) = tr(I − Z_k Y_k),
// so r_k = |tr(I − Z_k Y_k)| bounds the relative error of Tr A^{1/2}, and it
// weighs every eigen-direction equally however small its eigenvalue. The
// trace is similarity-invariant, so r_k is the same sum whether A is the
// symmetric form or the non-normal product S1 S2 (a Frobenius norm of
// I − Z Y is not: for the product it is inflated by the condition number of
// the eigenvector basis and is not monotone). SPEC §4's residual
// ‖Y² − A/c‖_F / ‖A/c‖_F is I − Z Y multiplied by A/c: it hardly sees the
// small eigenvalues and declares convergence while they are still far off.
// Z Y is needed for T anyway, so r costs O(d).
//
// In exact arithmetic r_k decreases monotonically. We stop when r ≤ tol
// (converged), when r has not reached a new minimum for `patience` steps
// (stagnated: the rounding floor, about ε·√κ(A)·d, or a singular input), or
// at max_iter, and return the iterate with the smallest r. On singular input
// the zero directions keep e_i ≈ 0 (each adds 1 to r), rounding-level
// negative eigenvalues grow without bound and Z grows by 1.5 per step, so r
// eventually rises: the best iterate is kept and nothing non-finite is
// returned.
#pragma once

#include <Eigen/Core>

#include <cmath>
#include <limits>

#include "mir/backend/backend.hpp"
#include "mir/linalg/matrix_sqrt.hpp"

namespace mir {

/// A^{1/2} by the coupled Newton–Schulz iteration. A is square with real,
/// non-negative eigenvalues (symmetric PSD, or a product of two such);
/// `residual` is |tr(I − Z Y)| of the returned iterate (see above).
template <class Real>
[[nodiscard]] matrix_sqrt_result<Real> newton_schulz_sqrt(const backend::matrix<Real>& a,
                                                          sqrt_normalization norm = sqrt_normalization::frobenius,
                                                          const iteration_control& ctl = {}) {
    using M = backend::matrix<Real>;
    const index_t d = a.rows();
    matrix_sqrt_result<Real> out;
    out.status = sqrt_status::converged;
    const double c = detail::normalize_or_zero<Real>(a, norm, out);
    if (c == 0.0) return out;  // the zero matrix is its own square root
    M y = a / static_cast<Real>(c);
    M z = M::Identity(d, d);
    M e, t;
    detail::iteration_monitor<Real> monitor(y, ctl, /*rank_first=*/true);
    for (int k = 0;; ++k) {
        backend::active::gemm<Real>(z, y, e);
        if (monitor.stop(k, detail::trace_residual<Real>(e), y)) break;
        // T = ½(3I − E), in place of E.
        t = e * Real(-0.5);
        t.diagonal().array() += Real(1.5);
        backend::active::gemm<Real>(y, t, e);  // e := Y T
        y.swap(e);
        backend::active::gemm<Real>(t, z, e);  // e := T Z
        z.swap(e);
        out.iterations = k + 1;
    }
    monitor.finish(out, c);
    return out;
}

}  // namespace mir
