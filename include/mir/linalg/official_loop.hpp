// mir/linalg/official_loop.hpp — the official "fast" square-root loop
// (mir_util.MatrixSquareRoot, SPEC §3), reproduced literally so that the
// benchmark can show what it returns. It is NOT a square root:
//
//   Y = A; Z = I;  repeat 5 times:  Y = ½(Y + Z⁻¹A);  Z = ½(Z + Y⁻¹A)
//
// From (A, I) the first step gives Y = ½(A + A) = A and Z = ½(I + A⁻¹A) = I:
// (A, I) is a fixed point, so in exact arithmetic the loop returns A and
// Tr Y = Tr(S1 S2) — the value sqrt_method::reference_fast computes
// directly. In float32 (as the official code runs it) the inverses of the
// ill-conditioned A = S1 S2 add rounding noise, and that noise is all that
// distinguishes its output from Tr(S1 S2). This is not offered as a way to
// compute MIR; `mir bench-sqrt` uses it as "official-literal".
#pragma once

#include <Eigen/Core>

#include <cmath>
#include <utility>

#include "mir/backend/backend.hpp"
#include "mir/linalg/matrix_sqrt.hpp"

namespace mir {

/// The loop as written, on A, in the scalar type Real. `sqrt` holds the
/// final Y (≈ A, not A^{1/2}); `residual` is ‖Y − A‖_F / ‖A‖_F, how far the
/// loop moved from its input (0 in exact arithmetic). An inverse that fails
/// or a non-finite value stops it with sqrt_status::breakdown, returning the
/// last finite Y.
template <class Real>
[[nodiscard]] matrix_sqrt_result<Real> official_loop(const backend::matrix<Real>& a, int iterations = 5,
                                                     backend::matrix<Real>* z_out = nullptr) {
    using M = backend::matrix<Real>;
    const index_t d = a.rows();
    matrix_sqrt_result<Real> out;
    out.status = sqrt_status::max_iter;  // it always runs its fixed count
    M y = a, z = M::Identity(d, d), inv, prod;
    for (int k = 0; k < iterations; ++k) {
        inv = z;
        if (!backend::active::invert_inplace<Real>(inv)) {
            out.status = sqrt_status::breakdown;
            break;
        }
        backend::active::gemm<Real>(inv, a, prod);
        M y_next = Real(0.5) * (y + prod);
        inv = y_next;
        if (!y_next.allFinite() || !backend::active::invert_inplace<Real>(inv)) {
            out.status = sqrt_status::breakdown;
            break;
        }
        backend::active::gemm<Real>(inv, a, prod);
        M z_next = Real(0.5) * (z + prod);
        if (!z_next.allFinite()) {
            out.status = sqrt_status::breakdown;
            break;
        }
        y.swap(y_next);
        z.swap(z_next);
        out.iterations = k + 1;
    }
    const double na = a.template cast<double>().norm();
    out.residual = na > 0.0 ? (y.template cast<double>() - a.template cast<double>()).norm() / na : 0.0;
    if (z_out) *z_out = z;
    out.sqrt = std::move(y);
    return out;
}

/// What the official fast mode puts where Tr (S1 S2)^{1/2} belongs: the
/// loop above in float32 on A = S1 S2 formed in float32, traced. Returns
/// Tr Y (accumulated in double) and the loop's record.
[[nodiscard]] inline matrix_sqrt_result<float> official_loop_literal(const Eigen::MatrixXd& s1, const Eigen::MatrixXd& s2,
                                                                     int iterations = 5) {
    const backend::matrix<float> f1 = s1.cast<float>(), f2 = s2.cast<float>();
    backend::matrix<float> a;
    backend::active::gemm<float>(f1, f2, a);
    return official_loop<float>(a, iterations);
}

}  // namespace mir
