// mir/linalg/trace_sqrt.hpp — the exact trace square root Tr (S1 S2)^{1/2}
// of two covariance matrices (SPEC §2.3).
//
// S1 S2 is similar to the symmetric PSD matrix Rᵀ S2 R for any factor
// S1 = R Rᵀ, so Tr (S1 S2)^{1/2} = Σ √λ(Rᵀ S2 R): eigenvalues only, of a
// symmetric matrix, never complex. Routes, in order of preference:
//   1. small side: a factor F with fewer rows than d (S = Fᵀ F, e.g. the
//      centred rows / √(n−1)) gives the n × n problem F S_other Fᵀ;
//   2. Cholesky S1 = L Lᵀ (or of S2 when S1 is not positive definite);
//   3. eigendecomposition S1 = V Λ Vᵀ, R = V Λ^{1/2} over the eigenvalues
//      above the shared cut-off (mir/linalg/eigenvalues.hpp).
// Every route applies the same cut-off to the final eigenvalues.
#pragma once

#include <Eigen/Core>

#include <array>
#include <cmath>
#include <string>
#include <string_view>

#include "mir/backend/backend.hpp"
#include "mir/detail/enum_name.hpp"
#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/linalg/eigenvalues.hpp"
#include "mir/linalg/sqrt_catalogue.hpp"

namespace mir {

/// Which route trace_sqrt_product took.
enum class trace_sqrt_route {
    empty,           ///< d = 0
    small_side,      ///< n × n problem from a factor with n < d rows
    cholesky,        ///< Cholesky of one side (positive definite)
    eigen_fallback,  ///< both sides singular: eigendecomposition of one
    reference_fast,  ///< not a square root: Tr(S1 S2) (sqrt_method::reference_fast)
    symmetric_form,  ///< an approximate method on Rᵀ S_other R (mir/linalg/sqrt_methods.hpp)
    product_form,    ///< an approximate method on the product S1 S2
    official_fast,   ///< not a square root: the EMULATION of the official fast mode (mir/linalg/official_fast.hpp)
};

constexpr std::string_view to_string(trace_sqrt_route r) noexcept {
    return detail::enum_name(r, std::array<std::string_view, 8>{"empty", "small-side", "cholesky", "eigen-fallback",
                                                                "reference-fast", "symmetric-form", "product-form",
                                                                "official-fast-emulation"});
}

/// How the exact route ended: a numerical status, as Eigen's ComputationInfo.
enum class trace_sqrt_status {
    ok,
    eigensolver_failed,  ///< the symmetric eigenvalue solver did not converge; value is 0 and meaningless
};

constexpr std::string_view to_string(trace_sqrt_status s) noexcept {
    return s == trace_sqrt_status::ok ? "ok" : "eigensolver-failed";
}

/// The trace square root with how it was obtained.
struct trace_sqrt_result {
    double value = 0.0;
    trace_sqrt_route route = trace_sqrt_route::empty;
    eigenvalue_summary eigenvalues;  ///< of the final symmetric problem
    trace_sqrt_status status = trace_sqrt_status::ok;
};

namespace detail {

inline void check_covariance(const Eigen::MatrixXd& s, std::string_view name) {
    if (s.rows() != s.cols()) {
        throw shape_error(std::string(name) + " must be square, got " + std::to_string(s.rows()) + " x " +
                          std::to_string(s.cols()));
    }
    if (!s.allFinite()) throw non_finite_error(std::string(name) + " contains NaN or Inf");
}

inline trace_sqrt_result finish(Eigen::MatrixXd& m, trace_sqrt_route route) {
    trace_sqrt_result r;
    r.route = route;
    Eigen::VectorXd lambda;
    if (!backend::active::symmetric_eigenvalues(m, lambda)) {
        r.status = trace_sqrt_status::eigensolver_failed;
        return r;
    }
    r.eigenvalues = sum_sqrt_eigenvalues(lambda);
    r.value = r.eigenvalues.sum_sqrt;
    return r;
}

}  // namespace detail

/// Tr (F₁ᵀF₁ · S2)^{1/2} from a factor F₁ (n × d) of the first covariance:
/// the n × n problem F₁ S2 F₁ᵀ (SPEC §2.3, small-side route).
[[nodiscard]] inline trace_sqrt_result trace_sqrt_product_factor(const Eigen::MatrixXd& f1,
                                                                 const Eigen::MatrixXd& s2) {
    detail::check_covariance(s2, "trace_sqrt_product: S2");
    if (f1.cols() != s2.rows()) {
        throw shape_error("trace_sqrt_product: the factor has " + std::to_string(f1.cols()) +
                          " columns but S2 is " + std::to_string(s2.rows()) + " x " + std::to_string(s2.cols()));
    }
    if (!f1.allFinite()) throw non_finite_error("trace_sqrt_product: the factor contains NaN or Inf");
    if (f1.rows() == 0 || f1.cols() == 0) return {};
    Eigen::MatrixXd m = f1 * s2.selfadjointView<Eigen::Lower>() * f1.transpose();
    return detail::finish(m, trace_sqrt_route::small_side);
}

/// Tr (S1 S2)^{1/2} with the route taken. S1 and S2 are symmetric positive
/// semi-definite; only their lower triangles are read.
[[nodiscard]] inline trace_sqrt_result trace_sqrt_product_detailed(const Eigen::MatrixXd& s1,
                                                                   const Eigen::MatrixXd& s2) {
    detail::check_covariance(s1, "trace_sqrt_product: S1");
    detail::check_covariance(s2, "trace_sqrt_product: S2");
    if (s1.rows() != s2.rows()) {
        throw shape_error("trace_sqrt_product: S1 is " + std::to_string(s1.rows()) + " x " +
                          std::to_string(s1.rows()) + " but S2 is " + std::to_string(s2.rows()) + " x " +
                          std::to_string(s2.rows()));
    }
    if (s1.rows() == 0) return {};

    // Full symmetric copies: the kernels read lower triangles, the
    // congruence reads the whole of the other side.
    auto full = [](const Eigen::MatrixXd& s) {
        Eigen::MatrixXd f = s;
        f.triangularView<Eigen::StrictlyUpper>() = f.transpose();
        return f;
    };
    {
        Eigen::MatrixXd l = s1;
        if (backend::active::cholesky_lower(l)) {
            Eigen::MatrixXd m = backend::active::congruence_lower(l, full(s2));
            return detail::finish(m, trace_sqrt_route::cholesky);
        }
        l = s2;
        if (backend::active::cholesky_lower(l)) {
            Eigen::MatrixXd m = backend::active::congruence_lower(l, full(s1));
            return detail::finish(m, trace_sqrt_route::cholesky);
        }
    }
    // Both singular: R = V Λ^{1/2} over the eigenvalues of S1 above the
    // cut-off; the problem shrinks to the numerical rank of S1.
    Eigen::VectorXd lambda;
    Eigen::MatrixXd v;
    if (!backend::active::symmetric_eigen_decomposition(s1, lambda, v)) {
        trace_sqrt_result res;
        res.route = trace_sqrt_route::eigen_fallback;
        res.status = trace_sqrt_status::eigensolver_failed;
        return res;
    }
    const double cut = eigenvalue_cutoff(lambda.size() ? lambda.maxCoeff() : 0.0, lambda.size());
    index_t rank = 0;
    for (index_t i = 0; i < lambda.size(); ++i) rank += lambda[i] > cut ? 1 : 0;
    Eigen::MatrixXd r(s1.rows(), rank);
    for (index_t i = 0, c = 0; i < lambda.size(); ++i) {
        if (lambda[i] > cut) r.col(c++) = v.col(i) * std::sqrt(lambda[i]);
    }
    if (rank == 0) {
        trace_sqrt_result res;
        res.route = trace_sqrt_route::eigen_fallback;
        return res;
    }
    Eigen::MatrixXd m = r.transpose() * s2.selfadjointView<Eigen::Lower>() * r;
    return detail::finish(m, trace_sqrt_route::eigen_fallback);
}

/// Tr(S1 S2) for symmetric S1, S2 (lower triangles read): the value the
/// official "fast" mode puts where Tr (S1 S2)^{1/2} belongs. Its loop
/// Y = ½(Y + Z⁻¹A), Z = ½(Z + Y⁻¹A) from (A, I) is a fixed point (SPEC §3).
[[nodiscard]] inline double trace_of_product(const Eigen::MatrixXd& s1, const Eigen::MatrixXd& s2) {
    detail::check_covariance(s1, "trace_of_product: S1");
    detail::check_covariance(s2, "trace_of_product: S2");
    if (s1.rows() != s2.rows()) throw shape_error("trace_of_product: S1 and S2 differ in size");
    // Σ_ij S1_ij S2_ji from the lower triangles: diagonal once, the rest twice.
    const auto n = s1.rows();
    double t = 0.0;
    for (index_t j = 0; j < n; ++j) {
        t += s1(j, j) * s2(j, j);
        for (index_t i = j + 1; i < n; ++i) t += 2.0 * s1(i, j) * s2(i, j);
    }
    return t;
}

/// Tr (S1 S2)^{1/2} = Σ √λ(S1 S2) for symmetric PSD covariances S1, S2.
/// Throws numerical_error when the eigenvalue solver does not converge
/// (trace_sqrt_product_detailed reports it as a status instead).
[[nodiscard]] inline double trace_sqrt_product(const Eigen::MatrixXd& s1, const Eigen::MatrixXd& s2) {
    const trace_sqrt_result r = trace_sqrt_product_detailed(s1, s2);
    if (r.status != trace_sqrt_status::ok) {
        throw numerical_error("trace_sqrt_product: the symmetric eigenvalue solver did not converge");
    }
    return r.value;
}

}  // namespace mir
