// mir/linalg/sqrt_methods.hpp — one interface to every way of obtaining
// Tr (S1 S2)^{1/2}: the exact path, reference-fast, the emulation of the
// official fast mode (official-fast, mir/linalg/official_fast.hpp), and the
// approximate matrix square roots (Newton–Schulz, Denman–Beavers, Padé, Taylor).
//
//   mir::sqrt_options o;  o.method = mir::sqrt_method::newton_schulz;
//   mir::sqrt_result r = mir::trace_sqrt_with(S1, S2, o);  // value, iterations, residual, status
//
// Which matrix the approximate methods see (sqrt_form):
//   symmetric (default)  M = Rᵀ S_other R with S = R Rᵀ, a rank-revealing
//       (pivoted) Cholesky factor of one covariance: M is similar to S1 S2
//       (same eigenvalues, so Tr M^{1/2} = Tr (S1 S2)^{1/2}) but symmetric,
//       hence normal: its eigenvectors are orthogonal, every iterate is a
//       symmetric polynomial/rational function of M, the residual bound of
//       mir/linalg/newton_schulz.hpp holds, and rounding is not amplified by
//       an ill-conditioned eigenvector basis as it is for the non-normal
//       product. Both sides are factored; the side of smaller numerical rank
//       r gives R (d × r), so M is r × r and, for row-deficient covariances,
//       free of the exact null space that would otherwise leave
//       rounding-level (possibly negative) eigenvalues for the iteration to
//       trip on. The small-side route from data factors is the exact path's
//       only.
//   product  A = S1 S2 (d × d, non-symmetric): what most implementations
//       iterate on; kept to measure what it costs in accuracy.
// The form is built in double; precision::fp32 runs the iteration
// (or the approximant) in float.
#pragma once

#include <Eigen/Core>

#include <cmath>
#include <string>
#include <string_view>

#include "mir/backend/backend.hpp"
#include "mir/error.hpp"
#include "mir/linalg/denman_beavers.hpp"
#include "mir/linalg/matrix_sqrt.hpp"
#include "mir/linalg/newton_schulz.hpp"
#include "mir/linalg/official_fast.hpp"
#include "mir/linalg/pade.hpp"
#include "mir/linalg/taylor.hpp"
#include "mir/linalg/trace_sqrt.hpp"
#include "mir/precision.hpp"

namespace mir {

/// Which matrix an approximate method works on (see the header comment).
enum class sqrt_form { symmetric, product };

constexpr std::string_view to_string(sqrt_form f) noexcept {
    return f == sqrt_form::symmetric ? "symmetric" : "product";
}

/// How to obtain Tr (S1 S2)^{1/2}. Converts implicitly from a sqrt_method
/// (every other field at its default).
struct sqrt_options {
    sqrt_method method = sqrt_method::exact;
    double tol = 0.0;   ///< iterative methods: stop when |tr(I − ZY)| ≤ tol (bounds the relative error); ≤ 0: 1e-10 (fp64), 1e-5 (fp32)
    int max_iter = 100; ///< iterative methods: the most iterations
    sqrt_normalization normalization = sqrt_normalization::frobenius;  ///< Newton–Schulz only
    sqrt_form form = sqrt_form::symmetric;
    mir::precision precision = mir::precision::fp64;
    bool scaling = true;  ///< Denman–Beavers: determinantal scaling
    int degree = 0;       ///< Taylor degree K (default 10); Padé [m/m] with m = degree (default 5)
    progress_callback progress;  ///< iterative methods: called after every iteration (mir/progress.hpp)

    sqrt_options() = default;
    sqrt_options(sqrt_method m) : method(m) {}  // NOLINT(google-explicit-constructor): options from a method
};

/// The trace square root with how it was obtained.
struct sqrt_result {
    double value = 0.0;
    int iterations = 0;       ///< iterations performed (0 for direct methods)
    double residual = 0.0;    ///< the method's own residual (0 for exact and reference-fast)
    sqrt_status status = sqrt_status::not_iterative;
    trace_sqrt_route route = trace_sqrt_route::empty;
};

/// The symmetric form of the pair (see the header comment): Rᵀ S_other R,
/// r × r with r the smaller numerical rank. Lower triangles of S1, S2 read.
[[nodiscard]] inline Eigen::MatrixXd symmetric_form(const Eigen::MatrixXd& s1, const Eigen::MatrixXd& s2) {
    const auto full = [](const Eigen::MatrixXd& s) {
        Eigen::MatrixXd f = s;
        f.triangularView<Eigen::StrictlyUpper>() = f.transpose();
        return f;
    };
    Eigen::MatrixXd r1 = backend::active::pivoted_cholesky_factor(s1);
    Eigen::MatrixXd r2 = backend::active::pivoted_cholesky_factor(s2);
    const bool first = r1.cols() <= r2.cols();
    const Eigen::MatrixXd& r = first ? r1 : r2;
    const Eigen::MatrixXd other = full(first ? s2 : s1);
    Eigen::MatrixXd w, m;
    backend::active::gemm<double>(other, r, w);                       // S_other R
    backend::active::gemm<double>(r, w, m, 1.0, 0.0, true, false);    // Rᵀ S_other R
    return (0.5 * (m + m.transpose())).eval();
}

/// The product S1 S2 (lower triangles read).
[[nodiscard]] inline Eigen::MatrixXd product_form(const Eigen::MatrixXd& s1, const Eigen::MatrixXd& s2) {
    Eigen::MatrixXd f1 = s1, f2 = s2, p;
    f1.triangularView<Eigen::StrictlyUpper>() = f1.transpose();
    f2.triangularView<Eigen::StrictlyUpper>() = f2.transpose();
    backend::active::gemm<double>(f1, f2, p);
    return p;
}

/// An approximate method (not exact / reference-fast) on a prepared matrix A, in Real.
template <class Real>
[[nodiscard]] matrix_sqrt_result<Real> approximate_sqrt(const backend::matrix<Real>& a, const sqrt_options& o) {
    iteration_control ctl;
    ctl.tol = o.tol;
    ctl.max_iter = o.max_iter;
    ctl.progress = o.progress;
    switch (o.method) {
        case sqrt_method::newton_schulz: return newton_schulz_sqrt<Real>(a, o.normalization, ctl);
        case sqrt_method::denman_beavers: return denman_beavers_sqrt<Real>(a, o.scaling, ctl);
        case sqrt_method::pade: return pade_sqrt<Real>(a, o.degree > 0 ? o.degree : 5, o.degree > 0 ? o.degree : 5);
        case sqrt_method::taylor: return taylor_sqrt<Real>(a, o.degree > 0 ? o.degree : 10);
        default: break;
    }
    throw argument_error("approximate_sqrt: '" + std::string(to_string(o.method)) + "' is not an approximate method");
}

/// Tr (S1 S2)^{1/2} by the method of `o` (Tr(S1 S2) under reference-fast;
/// under official-fast the emulation's trace on S1, S2 as given — the
/// official code runs it on α-scaled covariances, see official_fast_trace).
/// Never throws for non-convergence: the status says how the method ended,
/// and the value is always finite.
[[nodiscard]] inline sqrt_result trace_sqrt_with(const Eigen::MatrixXd& s1, const Eigen::MatrixXd& s2,
                                                    const sqrt_options& o) {
    sqrt_result out;
    if (o.method == sqrt_method::exact) {
        const trace_sqrt_result r = trace_sqrt_product_detailed(s1, s2);
        out.value = r.value;
        out.route = r.route;
        if (r.status != trace_sqrt_status::ok) out.status = sqrt_status::solver_failed;
        return out;
    }
    if (o.method == sqrt_method::reference_fast) {
        out.value = trace_of_product(s1, s2);
        out.route = trace_sqrt_route::reference_fast;
        return out;
    }
    if (o.method == sqrt_method::official_fast) {
        detail::check_covariance(s1, "official_fast_trace: S1");
        detail::check_covariance(s2, "official_fast_trace: S2");
        if (s1.rows() != s2.rows()) throw shape_error("official_fast_trace: S1 and S2 differ in size");
        const official_fast_result r = official_fast_trace(s1, s2);
        out.value = std::isfinite(r.value) ? r.value : 0.0;
        out.iterations = r.iterations;
        out.status = std::isfinite(r.value) ? r.status : sqrt_status::breakdown;
        out.route = trace_sqrt_route::official_fast;
        return out;
    }
    detail::check_covariance(s1, "trace_sqrt_product: S1");
    detail::check_covariance(s2, "trace_sqrt_product: S2");
    if (s1.rows() != s2.rows()) throw shape_error("trace_sqrt_product: S1 and S2 differ in size");
    if (o.max_iter < 0) throw argument_error("trace_sqrt_product: max_iter must be ≥ 0");
    if (s1.rows() == 0) return out;
    const bool sym = o.form == sqrt_form::symmetric;
    out.route = sym ? trace_sqrt_route::symmetric_form : trace_sqrt_route::product_form;
    const Eigen::MatrixXd a = sym ? symmetric_form(s1, s2) : product_form(s1, s2);
    const auto take = [&](const auto& r) {
        out.value = r.trace();
        out.iterations = r.iterations;
        out.residual = r.residual;
        out.status = r.status;
    };
    if (o.precision == precision::fp32) {
        take(approximate_sqrt<float>(a.cast<float>(), o));
    } else {
        take(approximate_sqrt<double>(a, o));
    }
    if (!std::isfinite(out.value)) {  // cannot happen for finite input; never hand out a NaN
        out.value = 0.0;
        out.status = sqrt_status::breakdown;
    }
    return out;
}

}  // namespace mir
