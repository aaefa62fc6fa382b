// mir/linalg/denman_beavers.hpp — the Denman–Beavers iteration for A^{1/2}
// (SPEC §4; Higham, Functions of Matrices §6.3), in its correct form:
//
//   Y₀ = A, Z₀ = I,  Y_{k+1} = ½(μ_k Y_k + (μ_k Z_k)⁻¹),  Z_{k+1} = ½(μ_k Z_k + (μ_k Y_k)⁻¹),
//
// Y_k → A^{1/2}, Z_k → A^{-1/2}, quadratically. (The official "fast" loop
// writes Z⁻¹A and Y⁻¹A in place of Z⁻¹ and Y⁻¹, which makes (A, I) a fixed
// point: SPEC §3, mir/linalg/official_loop.hpp.)
//
// Scaling. μ_k = |det(Y_k Z_k)|^{-1/(2d)} (determinantal scaling, Higham
// (6.29)) shortens the slow first phase on ill-conditioned A from
// O(log κ) steps to a handful; the determinants come free from the LU
// factorisations of the inverses. Scaling is switched off once the
// residual is below 1e-2, where it can only disturb quadratic convergence.
// A is first divided by c = ‖A‖_F so that float iterates cannot overflow.
//
// Stopping rule and residual: as for Newton–Schulz. Every iterate is a
// rational function of A with Y_k = A Z_k, so E = Y_k Z_k has eigenvalues
// e_i = x_i z_i² and y_i = √(e_i x_i). After the first step
// e_i = ¼(s + 1/s)² ≥ 1 (s = μ√e_i), so every direction approaches 1 from
// above and r = |tr(I − Y_k Z_k)| = Σ (e_i − 1) bounds the relative error of
// Tr A^{1/2} (see mir/linalg/newton_schulz.hpp). The first step can raise r
// far above its start (small eigenvalues overshoot to e ≫ 1 before
// converging quadratically), so the iterate Y₀ = A/c, which is no square
// root, is never kept as the best. An inverse that fails (singular Y or Z)
// ends the iteration with sqrt_status::breakdown.
#pragma once

#include <Eigen/Core>

#include <cmath>
#include <limits>

#include "mir/backend/backend.hpp"
#include "mir/linalg/matrix_sqrt.hpp"

namespace mir {

/// A^{1/2} by the (scaled) Denman–Beavers iteration; `residual` is
/// |tr(I − Y Z)| of the returned iterate.
template <class Real>
[[nodiscard]] matrix_sqrt_result<Real> denman_beavers_sqrt(const backend::matrix<Real>& a, bool scaling = true,
                                                           const iteration_control& ctl = {}) {
    using M = backend::matrix<Real>;
    const index_t d = a.rows();
    matrix_sqrt_result<Real> out;
    out.status = sqrt_status::converged;
    const double c = detail::normalize_or_zero<Real>(a, sqrt_normalization::frobenius, out);
    if (c == 0.0) return out;
    M y = a / static_cast<Real>(c);
    M z = M::Identity(d, d);
    M e, yi, zi;
    detail::iteration_monitor<Real> monitor(y, ctl, /*rank_first=*/false);
    for (int k = 0;; ++k) {
        backend::active::gemm<Real>(y, z, e);
        const double r = detail::trace_residual<Real>(e);
        if (monitor.stop(k, r, y)) break;
        yi = y;
        zi = z;
        double ldy = 0.0, ldz = 0.0;
        if (!backend::active::invert_inplace<Real>(yi, &ldy) || !backend::active::invert_inplace<Real>(zi, &ldz)) {
            monitor.fail();
            break;
        }
        double mu = 1.0;
        if (scaling && r > 1e-2) mu = std::exp(-(ldy + ldz) / (2.0 * static_cast<double>(d)));
        if (!std::isfinite(mu) || mu <= 0.0) mu = 1.0;
        const auto h = static_cast<Real>(0.5 * mu), hi = static_cast<Real>(0.5 / mu);
        y = h * y + hi * zi;
        z = h * z + hi * yi;
        out.iterations = k + 1;
    }
    monitor.finish(out, c);
    return out;
}

}  // namespace mir
