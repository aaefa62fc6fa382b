// mir/backend/eigen.hpp — the pure-Eigen implementation of the dense
// kernels (mir/backend/backend.hpp lists them). Always available: the
// other backends fall back to it for scalars their library lacks.
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <Eigen/LU>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "mir/element.hpp"

namespace mir::backend {

template <class Real>
using matrix = Eigen::Matrix<Real, Eigen::Dynamic, Eigen::Dynamic>;
template <class Real>
using vector = Eigen::Matrix<Real, Eigen::Dynamic, 1>;

namespace eigen {

inline const char* name() noexcept { return "eigen"; }

/// Threads per call: Eigen's (OpenMP builds only; 1 otherwise).
inline int threads() noexcept { return Eigen::nbThreads(); }
/// Eigen threads its products only when built with OpenMP.
inline bool set_threads(int n) noexcept {
#if defined(_OPENMP)
    Eigen::setNbThreads(n);
    return true;
#else
    (void)n;
    return false;
#endif
}

/// C (lower triangle) += A Aᵀ, A d × k column-major with leading dimension d
/// (k row-major rows of length d).
template <class Acc>
void syrk_lower(index_t d, index_t k, const Acc* a, Acc* c) {
    Eigen::Map<const matrix<Acc>> A(a, d, k);
    Eigen::Map<matrix<Acc>> C(c, d, d);
    C.template selfadjointView<Eigen::Lower>().rankUpdate(A);
}

/// C (lower triangle) += w x xᵀ.
template <class Acc>
void syr_lower(index_t d, Acc w, const Acc* x, Acc* c) {
    Eigen::Map<const vector<Acc>> X(x, d);
    Eigen::Map<matrix<Acc>> C(c, d, d);
    C.template selfadjointView<Eigen::Lower>().rankUpdate(X, w);
}

/// In-place lower Cholesky factor of a symmetric matrix given by its lower
/// triangle (the strict upper triangle is zeroed). False when not positive definite.
inline bool cholesky_lower(Eigen::MatrixXd& a) {
    Eigen::LLT<Eigen::MatrixXd, Eigen::Lower> llt(a);
    if (llt.info() != Eigen::Success) return false;
    a = llt.matrixL();
    return true;
}

/// Lᵀ S L for lower-triangular L and symmetric S in full storage
/// (two triangular multiplies).
inline Eigen::MatrixXd congruence_lower(const Eigen::MatrixXd& l, const Eigen::MatrixXd& s) {
    const auto L = l.triangularView<Eigen::Lower>();
    Eigen::MatrixXd w = s * L;
    return l.transpose().triangularView<Eigen::Upper>() * w;
}

/// Eigenvalues (ascending) of a symmetric matrix given by its lower
/// triangle, into w; a is overwritten. False when the solver did not converge.
inline bool symmetric_eigenvalues(Eigen::MatrixXd& a, Eigen::VectorXd& w) {
    w.resize(a.rows());
    if (a.rows() == 0) return true;
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(a, Eigen::EigenvaluesOnly);
    if (es.info() != Eigen::Success) return false;
    w = es.eigenvalues();
    return true;
}

/// Eigenvalues (ascending) and eigenvectors (columns). False when the solver did not converge.
inline bool symmetric_eigen_decomposition(const Eigen::MatrixXd& a, Eigen::VectorXd& values,
                                          Eigen::MatrixXd& vectors) {
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(a);
    if (es.info() != Eigen::Success) return false;
    values = es.eigenvalues();
    vectors = es.eigenvectors();
    return true;
}

/// C := alpha · op(A) · op(B) + beta · C (C is resized when beta == 0).
template <class Real>
void gemm(const matrix<Real>& a, const matrix<Real>& b, matrix<Real>& c, Real alpha = Real(1), Real beta = Real(0),
          bool trans_a = false, bool trans_b = false) {
    const index_t m = trans_a ? a.cols() : a.rows();
    const index_t n = trans_b ? b.rows() : b.cols();
    if (beta == Real(0)) c.resize(m, n);
    if (m == 0 || n == 0) return;
    if (beta == Real(0)) c.setZero();
    else c *= beta;
    if (trans_a && trans_b) c.noalias() += alpha * a.transpose() * b.transpose();
    else if (trans_a) c.noalias() += alpha * a.transpose() * b;
    else if (trans_b) c.noalias() += alpha * a * b.transpose();
    else c.noalias() += alpha * a * b;
}

/// In-place inverse by LU with partial pivoting. False (a unspecified) when
/// a pivot is exactly zero or the result is not finite; log_abs_det, when
/// given, receives log|det a|.
template <class Real>
bool invert_inplace(matrix<Real>& a, double* log_abs_det = nullptr) {
    const index_t n = a.rows();
    if (n == 0) return true;
    Eigen::PartialPivLU<matrix<Real>> lu(a);
    const auto& f = lu.matrixLU();
    double lad = 0.0;
    for (index_t i = 0; i < n; ++i) {
        if (f(i, i) == Real(0)) return false;
        lad += std::log(std::abs(static_cast<double>(f(i, i))));
    }
    a = lu.inverse();
    if (log_abs_det) *log_abs_det = lad;
    return a.allFinite();
}

/// Solves Q X = B (both overwritten: B becomes X). False when Q is exactly
/// singular or X is not finite.
template <class Real>
bool solve_inplace(matrix<Real>& q, matrix<Real>& b) {
    const index_t n = q.rows();
    if (n == 0) return true;
    Eigen::PartialPivLU<matrix<Real>> lu(q);
    for (index_t i = 0; i < n; ++i) {
        if (lu.matrixLU()(i, i) == Real(0)) return false;
    }
    b = lu.solve(b).eval();
    return b.allFinite();
}

/// The stopping rule of pivoted_cholesky_factor (LAPACK dpstrf's default):
/// the largest remaining diagonal ≤ d·ε·max diag(S).
inline double pivoted_cholesky_tolerance(const Eigen::MatrixXd& s) {
    return static_cast<double>(s.rows()) * std::numeric_limits<double>::epsilon() *
           std::max(0.0, s.diagonal().maxCoeff());
}

/// R = P L from the leading `rank` columns of a pivoted factor held in the
/// lower triangle of a (S = P L Lᵀ Pᵀ).
inline Eigen::MatrixXd permuted_factor(const Eigen::MatrixXd& a, const std::vector<index_t>& perm, index_t rank) {
    const index_t d = a.rows();
    Eigen::MatrixXd out = Eigen::MatrixXd::Zero(d, rank);
    for (index_t j = 0; j < rank; ++j) {
        for (index_t i = j; i < d; ++i) out(perm[static_cast<std::size_t>(i)], j) = a(i, j);
    }
    return out;
}

/// Rank-revealing (diagonally pivoted) Cholesky of a symmetric PSD matrix
/// given by its lower triangle: R (d × r) with S ≈ R Rᵀ, r the numerical rank.
inline Eigen::MatrixXd pivoted_cholesky_factor(const Eigen::MatrixXd& s) {
    const index_t d = s.rows();
    if (d == 0) return Eigen::MatrixXd(0, 0);
    const double tol = pivoted_cholesky_tolerance(s);
    Eigen::MatrixXd a = s;
    std::vector<index_t> perm(static_cast<std::size_t>(d));
    index_t rank = 0;
    // Right-looking outer-product form with diagonal pivoting.
    for (index_t i = 0; i < d; ++i) perm[static_cast<std::size_t>(i)] = i;
    a.triangularView<Eigen::StrictlyUpper>() = a.transpose();
    for (index_t k = 0; k < d; ++k) {
        index_t p = k;
        a.diagonal().tail(d - k).maxCoeff(&p);
        p += k;
        if (!(a(p, p) > tol)) break;
        if (p != k) {
            a.row(k).swap(a.row(p));
            a.col(k).swap(a.col(p));
            std::swap(perm[static_cast<std::size_t>(k)], perm[static_cast<std::size_t>(p)]);
        }
        const double pivot = std::sqrt(a(k, k));
        a(k, k) = pivot;
        a.col(k).tail(d - k - 1) /= pivot;
        a.bottomRightCorner(d - k - 1, d - k - 1).noalias() -=
            a.col(k).tail(d - k - 1) * a.col(k).tail(d - k - 1).transpose();
        ++rank;
    }
    return permuted_factor(a, perm, rank);
}

}  // namespace eigen
}  // namespace mir::backend
