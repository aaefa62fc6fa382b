// mir/linalg/matrix_sqrt.hpp — what every approximate matrix square root
// returns (the matrix, the iterations it took, its residual, how it ended),
// and the controls the iterative ones share.
#pragma once

#include <Eigen/Core>

#include <cmath>
#include <limits>
#include <string_view>

#include "mir/element.hpp"
#include "mir/progress.hpp"

namespace mir {

/// How an approximate square root ended.
enum class sqrt_status {
    converged,      ///< the residual reached the tolerance
    stagnated,      ///< the residual stopped decreasing first (rounding floor, or a singular input);
                    ///< the iterate with the smallest residual is returned
    max_iter,       ///< the iteration limit came first; the best iterate is returned
    breakdown,      ///< an inverse failed or a value stopped being finite; the best finite iterate is returned
    not_iterative,  ///< a direct method (exact, Padé, Taylor, reference-fast)
    solver_failed,  ///< the exact route's eigenvalue solver did not converge: no value
};

constexpr std::string_view to_string(sqrt_status s) noexcept {
    switch (s) {
        case sqrt_status::converged: return "converged";
        case sqrt_status::stagnated: return "stagnated";
        case sqrt_status::max_iter: return "max-iter";
        case sqrt_status::breakdown: return "breakdown";
        case sqrt_status::not_iterative: return "not-iterative";
        case sqrt_status::solver_failed: return "solver-failed";
    }
    return "?";
}

/// The constant c of Y₀ = A/c (Newton–Schulz, Padé, Taylor): both bound
/// the spectral radius of A from above, so the eigenvalues of A/c lie in (0, 1].
enum class sqrt_normalization {
    frobenius,  ///< c = ‖A‖_F (≤ √d·λ_max: the small eigenvalues start larger)
    trace,      ///< c = Tr A (≤ d·λ_max, for PSD A)
};

constexpr std::string_view to_string(sqrt_normalization n) noexcept {
    return n == sqrt_normalization::frobenius ? "frobenius" : "trace";
}

/// Stopping controls of an iteration. tol ≤ 0 picks the default of the
/// scalar type (default_sqrt_tol).
struct iteration_control {
    double tol = 0.0;
    int max_iter = 100;
    /// Iterations without a new smallest residual before giving up. In exact
    /// arithmetic the residuals used here decrease monotonically, so a
    /// non-decrease means rounding (or divergence on a singular input); a few
    /// extra steps let the residual settle at its floor.
    int patience = 3;
    /// Called after every iteration (stage square_root, iteration k, its residual).
    progress_callback progress;
};

/// Default tolerance on the residual |tr(I − Z_k Y_k)|: 1e-10 in double,
/// 1e-5 in float (about 100× the rounding floor for well-conditioned inputs).
template <class Real>
[[nodiscard]] constexpr double default_sqrt_tol() noexcept {
    return sizeof(Real) >= sizeof(double) ? 1e-10 : 1e-5;
}

/// An approximate square root X ≈ A^{1/2} and how it was obtained.
template <class Real>
struct matrix_sqrt_result {
    Eigen::Matrix<Real, Eigen::Dynamic, Eigen::Dynamic> sqrt;  ///< ≈ A^{1/2}, in A's units
    int iterations = 0;     ///< iterations performed (its cost), 0 for direct methods
    double residual = 0.0;  ///< of the returned iterate; its definition is the method's (see its header)
    sqrt_status status = sqrt_status::not_iterative;

    /// Tr X, accumulated in double.
    [[nodiscard]] double trace() const noexcept {
        double t = 0.0;
        for (index_t i = 0; i < sqrt.rows(); ++i) t += static_cast<double>(sqrt(i, i));
        return t;
    }
};

namespace detail {

/// ‖I − E‖_F accumulated in double.
template <class Real>
[[nodiscard]] double identity_residual(const Eigen::Matrix<Real, Eigen::Dynamic, Eigen::Dynamic>& e) {
    double s = 0.0;
    for (index_t j = 0; j < e.cols(); ++j) {
        for (index_t i = 0; i < e.rows(); ++i) {
            const double v = static_cast<double>(e(i, j)) - (i == j ? 1.0 : 0.0);
            s += v * v;
        }
    }
    return std::sqrt(s);
}

/// |tr(I − E)| = |d − Σ E_ii|, accumulated in double.
template <class Real>
[[nodiscard]] double trace_residual(const Eigen::Matrix<Real, Eigen::Dynamic, Eigen::Dynamic>& e) {
    double s = 0.0;
    for (index_t i = 0; i < e.rows(); ++i) s += 1.0 - static_cast<double>(e(i, i));
    return e.allFinite() ? std::abs(s) : std::numeric_limits<double>::quiet_NaN();
}

/// The normalisation constant c, in double (0 for a zero or non-finite A).
template <class Real>
[[nodiscard]] double normalization_constant(const Eigen::Matrix<Real, Eigen::Dynamic, Eigen::Dynamic>& a,
                                            sqrt_normalization n) {
    double c = 0.0;
    if (n == sqrt_normalization::trace) {
        for (index_t i = 0; i < a.rows(); ++i) c += static_cast<double>(a(i, i));
    } else {
        for (index_t i = 0; i < a.size(); ++i) c += static_cast<double>(a.data()[i]) * static_cast<double>(a.data()[i]);
        c = std::sqrt(c);
    }
    return std::isfinite(c) && c > 0.0 ? c : 0.0;
}

/// The normalisation constant c of A for the methods that iterate on or
/// expand A/c. A zero (or empty, or non-finite) A gives c = 0: it is its own
/// square root, written into out.sqrt, and the caller returns `out` as is.
template <class Real>
[[nodiscard]] double normalize_or_zero(const Eigen::Matrix<Real, Eigen::Dynamic, Eigen::Dynamic>& a,
                                       sqrt_normalization n, matrix_sqrt_result<Real>& out) {
    const double c = normalization_constant<Real>(a, n);
    if (c == 0.0) out.sqrt.setZero(a.rows(), a.rows());
    return c;
}

/// The stopping rule and best-iterate bookkeeping of the coupled iterations
/// (Newton–Schulz, Denman–Beavers): record each iterate's residual, keep the
/// iterate with the smallest one, and stop on the tolerance, on `patience`
/// steps without a new smallest residual, on the iteration limit, or on a
/// non-finite residual.
template <class Real>
class iteration_monitor {
public:
    using matrix = Eigen::Matrix<Real, Eigen::Dynamic, Eigen::Dynamic>;

    /// y0: the starting iterate, returned when nothing better comes.
    /// rank_first: whether the first iterate competes for the best residual
    /// (Denman–Beavers keeps Y₀ only as a last resort).
    iteration_monitor(const matrix& y0, const iteration_control& ctl, bool rank_first)
        : best_(y0), ctl_(ctl), tol_(ctl.tol > 0.0 ? ctl.tol : default_sqrt_tol<Real>()), rank_first_(rank_first) {}

    /// Records iterate y of step k with residual r; true when the
    /// iteration should stop (status() says why).
    bool stop(int k, double r, const matrix& y) {
        if (ctl_.progress) {
            progress_event e;
            e.stage = progress_stage::square_root;
            e.iteration = k;
            e.residual = r;
            ctl_.progress(e);
        }
        if (!std::isfinite(r)) return fail();
        if (k > 0 || rank_first_) {
            if (r < best_r_) {
                best_r_ = r;
                best_ = y;
                since_best_ = 0;
            } else {
                ++since_best_;
            }
        }
        if (r <= tol_) {
            status_ = sqrt_status::converged;
        } else if (since_best_ >= ctl_.patience) {
            status_ = sqrt_status::stagnated;
        } else if (k >= ctl_.max_iter) {
            status_ = sqrt_status::max_iter;
        } else {
            return false;
        }
        return true;
    }

    /// A step failed (an inverse, a non-finite value): stop with breakdown.
    bool fail() {
        status_ = sqrt_status::breakdown;
        return true;
    }

    [[nodiscard]] sqrt_status status() const noexcept { return status_; }

    /// Writes the best iterate, scaled back by √c, its residual and the status.
    void finish(matrix_sqrt_result<Real>& out, double c) {
        out.status = status_;
        out.residual = std::isfinite(best_r_) ? best_r_ : 1.0;
        if (!best_.allFinite()) best_.setZero();  // only Y₀ = A/c can get here, and only from a non-finite A
        out.sqrt = best_ * static_cast<Real>(std::sqrt(c));
    }

private:
    matrix best_;
    iteration_control ctl_;
    double tol_;
    bool rank_first_;
    double best_r_ = std::numeric_limits<double>::infinity();
    int since_best_ = 0;
    sqrt_status status_ = sqrt_status::converged;
};

}  // namespace detail

}  // namespace mir
