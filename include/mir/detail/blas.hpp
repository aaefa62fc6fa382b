// mir/detail/blas.hpp — the BLAS/LAPACK kernels the core uses, with a
// pure-Eigen fallback for each, so that MIR_USE_LAPACK only changes speed.
//
// Matrices are column-major, as in Eigen's default storage.
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/Eigenvalues>

#include <Eigen/LU>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "mir/config.hpp"
#include "mir/element.hpp"
#include "mir/error.hpp"

#if MIR_USE_LAPACK
#include <cblas.h>
#include <lapacke.h>
#endif

namespace mir::detail {

/// The BLAS kernel family in use: OpenBLAS's core name ("SkylakeX",
/// "Haswell", "Prescott" = its generic fallback for CPUs it does not know),
/// or "eigen" for the pure-Eigen build.
inline const char* blas_kernel_name() noexcept {
#if MIR_USE_LAPACK && defined(OPENBLAS_VERSION)
    return openblas_get_corename();
#elif MIR_USE_LAPACK
    return "cblas";
#else
    return "eigen";
#endif
}

template <class Acc>
using matrix = Eigen::Matrix<Acc, Eigen::Dynamic, Eigen::Dynamic>;
template <class Acc>
using vector = Eigen::Matrix<Acc, Eigen::Dynamic, 1>;

/// C (lower triangle) += A * A^T, where A is d x k column-major with
/// leading dimension d (i.e. k row-major rows of length d).
template <accumulator_type Acc>
void syrk_lower(index_t d, index_t k, const Acc* a, Acc* c) {
#if MIR_USE_LAPACK
    if constexpr (std::is_same_v<Acc, double>) {
        cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, static_cast<int>(d), static_cast<int>(k), 1.0,
                    a, static_cast<int>(d), 1.0, c, static_cast<int>(d));
    } else {
        cblas_ssyrk(CblasColMajor, CblasLower, CblasNoTrans, static_cast<int>(d), static_cast<int>(k), 1.0f,
                    a, static_cast<int>(d), 1.0f, c, static_cast<int>(d));
    }
#else
    Eigen::Map<const matrix<Acc>> A(a, d, k);
    Eigen::Map<matrix<Acc>> C(c, d, d);
    C.template selfadjointView<Eigen::Lower>().rankUpdate(A);
#endif
}

/// C (lower triangle) += w * x x^T.
template <accumulator_type Acc>
void syr_lower(index_t d, Acc w, const Acc* x, Acc* c) {
#if MIR_USE_LAPACK
    if constexpr (std::is_same_v<Acc, double>) {
        cblas_dsyr(CblasColMajor, CblasLower, static_cast<int>(d), w, x, 1, c, static_cast<int>(d));
    } else {
        cblas_ssyr(CblasColMajor, CblasLower, static_cast<int>(d), w, x, 1, c, static_cast<int>(d));
    }
#else
    Eigen::Map<const vector<Acc>> X(x, d);
    Eigen::Map<matrix<Acc>> C(c, d, d);
    C.template selfadjointView<Eigen::Lower>().rankUpdate(X, w);
#endif
}

/// In-place Cholesky factor (lower) of a symmetric matrix given by its
/// lower triangle. Returns false when the matrix is not positive definite.
inline bool cholesky_lower(Eigen::MatrixXd& a) {
#if MIR_USE_LAPACK
    const lapack_int n = static_cast<lapack_int>(a.rows());
    if (n == 0) return true;
    const lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', n, a.data(), n);
    if (info != 0) return false;
    a.triangularView<Eigen::StrictlyUpper>().setZero();
    return true;
#else
    Eigen::LLT<Eigen::MatrixXd, Eigen::Lower> llt(a);
    if (llt.info() != Eigen::Success) return false;
    a = llt.matrixL();
    return true;
#endif
}

/// Returns L^T S L for lower-triangular L (S symmetric, full storage).
inline Eigen::MatrixXd congruence_lower(const Eigen::MatrixXd& l, const Eigen::MatrixXd& s) {
#if MIR_USE_LAPACK
    const int n = static_cast<int>(l.rows());
    Eigen::MatrixXd w = s;
    if (n == 0) return w;
    // W := S L, then W := L^T W — two triangular products.
    cblas_dtrmm(CblasColMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, n, n, 1.0, l.data(), n,
                w.data(), n);
    cblas_dtrmm(CblasColMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, n, n, 1.0, l.data(), n,
                w.data(), n);
    return w;
#else
    const auto L = l.triangularView<Eigen::Lower>();
    Eigen::MatrixXd w = s * L;
    return l.transpose().triangularView<Eigen::Upper>() * w;
#endif
}

/// Eigenvalues (ascending) of a symmetric matrix given by its lower
/// triangle; the matrix is overwritten. No eigenvectors are computed.
inline Eigen::VectorXd symmetric_eigenvalues_inplace(Eigen::MatrixXd& a) {
    const index_t n = a.rows();
    Eigen::VectorXd w(n);
    if (n == 0) return w;
#if MIR_USE_LAPACK
    const lapack_int info =
        LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'N', 'L', static_cast<lapack_int>(n), a.data(), static_cast<lapack_int>(n),
                       w.data());
    if (info != 0) {
        throw error("symmetric eigenvalue solver (LAPACK dsyevd) failed to converge, info = " +
                    std::to_string(info));
    }
#else
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(a, Eigen::EigenvaluesOnly);
    if (es.info() != Eigen::Success) {
        throw error("symmetric eigenvalue solver (Eigen) failed to converge");
    }
    w = es.eigenvalues();
#endif
    return w;
}

/// Eigenvalues and eigenvectors (columns) of a symmetric matrix.
inline void symmetric_eigen_decomposition(const Eigen::MatrixXd& a, Eigen::VectorXd& values,
                                          Eigen::MatrixXd& vectors) {
#if MIR_USE_LAPACK
    const index_t n = a.rows();
    vectors = a;
    values.resize(n);
    if (n == 0) return;
    const lapack_int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', static_cast<lapack_int>(n), vectors.data(),
                                           static_cast<lapack_int>(n), values.data());
    if (info != 0) {
        throw error("symmetric eigendecomposition (LAPACK dsyevd) failed to converge, info = " +
                    std::to_string(info));
    }
#else
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(a);
    if (es.info() != Eigen::Success) {
        throw error("symmetric eigendecomposition (Eigen) failed to converge");
    }
    values = es.eigenvalues();
    vectors = es.eigenvectors();
#endif
}


// --- Kernels of the square-root iterations (mir/linalg/sqrt_methods.hpp) ----------
// Templated on the scalar (float or double) so that the iterations run in
// either precision with the same BLAS family as the exact path; a timing
// comparison between methods is then a comparison of algorithms.

/// True for the scalars the BLAS/LAPACK kernels take (others, e.g. long
/// double in tests, use Eigen).
template <class Real>
inline constexpr bool blas_scalar = MIR_USE_LAPACK && (std::is_same_v<Real, double> || std::is_same_v<Real, float>);

/// C := alpha · op(A) · op(B) + beta · C (general matrices; C is resized when beta == 0).
template <class Real>
void gemm(const matrix<Real>& a, const matrix<Real>& b, matrix<Real>& c, Real alpha = Real(1), Real beta = Real(0),
          bool trans_a = false, bool trans_b = false) {
    const index_t m = trans_a ? a.cols() : a.rows();
    const index_t k = trans_a ? a.rows() : a.cols();
    const index_t n = trans_b ? b.rows() : b.cols();
    if (beta == Real(0)) c.resize(m, n);
    if (m == 0 || n == 0) return;
#if MIR_USE_LAPACK
    if constexpr (blas_scalar<Real>) {
        if (k == 0) {
            c *= beta;
            return;
        }
        const auto ta = trans_a ? CblasTrans : CblasNoTrans;
        const auto tb = trans_b ? CblasTrans : CblasNoTrans;
        if constexpr (std::is_same_v<Real, double>) {
            cblas_dgemm(CblasColMajor, ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha,
                        a.data(), static_cast<int>(a.rows()), b.data(), static_cast<int>(b.rows()), beta, c.data(),
                        static_cast<int>(c.rows()));
        } else {
            cblas_sgemm(CblasColMajor, ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha,
                        a.data(), static_cast<int>(a.rows()), b.data(), static_cast<int>(b.rows()), beta, c.data(),
                        static_cast<int>(c.rows()));
        }
        return;
    }
#endif
    (void)k;
    if (beta == Real(0)) c.setZero();
    else c *= beta;
    if (trans_a && trans_b) c.noalias() += alpha * a.transpose() * b.transpose();
    else if (trans_a) c.noalias() += alpha * a.transpose() * b;
    else if (trans_b) c.noalias() += alpha * a * b.transpose();
    else c.noalias() += alpha * a * b;
}

/// In-place inverse of a general square matrix by LU with partial pivoting.
/// Returns false (a left unspecified) when a pivot is exactly zero or the
/// result is not finite; log_abs_det, when given, receives log|det a|.
template <class Real>
bool invert_inplace(matrix<Real>& a, double* log_abs_det = nullptr) {
    const index_t n = a.rows();
    if (n == 0) return true;
    double lad = 0.0;
#if MIR_USE_LAPACK
    if constexpr (blas_scalar<Real>) {
        std::vector<lapack_int> piv(static_cast<std::size_t>(n));
        const auto ln = static_cast<lapack_int>(n);
        lapack_int info = 0;
        if constexpr (std::is_same_v<Real, double>) info = LAPACKE_dgetrf(LAPACK_COL_MAJOR, ln, ln, a.data(), ln, piv.data());
        else info = LAPACKE_sgetrf(LAPACK_COL_MAJOR, ln, ln, a.data(), ln, piv.data());
        if (info != 0) return false;
        for (index_t i = 0; i < n; ++i) lad += std::log(std::abs(static_cast<double>(a(i, i))));
        if constexpr (std::is_same_v<Real, double>) info = LAPACKE_dgetri(LAPACK_COL_MAJOR, ln, a.data(), ln, piv.data());
        else info = LAPACKE_sgetri(LAPACK_COL_MAJOR, ln, a.data(), ln, piv.data());
        if (info != 0) return false;
        if (log_abs_det) *log_abs_det = lad;
        return a.allFinite();
    }
#endif
    Eigen::PartialPivLU<matrix<Real>> lu(a);
    const auto& f = lu.matrixLU();
    for (index_t i = 0; i < n; ++i) {
        if (f(i, i) == Real(0)) return false;
        lad += std::log(std::abs(static_cast<double>(f(i, i))));
    }
    a = lu.inverse();
    if (log_abs_det) *log_abs_det = lad;
    return a.allFinite();
}

/// Solves Q X = B for general square Q (both overwritten: B becomes X).
/// Returns false when Q is exactly singular or X is not finite.
template <class Real>
bool solve_inplace(matrix<Real>& q, matrix<Real>& b) {
    const index_t n = q.rows();
    if (n == 0) return true;
#if MIR_USE_LAPACK
    if constexpr (blas_scalar<Real>) {
        std::vector<lapack_int> piv(static_cast<std::size_t>(n));
        const auto ln = static_cast<lapack_int>(n);
        const auto nrhs = static_cast<lapack_int>(b.cols());
        lapack_int info = 0;
        if constexpr (std::is_same_v<Real, double>) info = LAPACKE_dgesv(LAPACK_COL_MAJOR, ln, nrhs, q.data(), ln, piv.data(), b.data(), ln);
        else info = LAPACKE_sgesv(LAPACK_COL_MAJOR, ln, nrhs, q.data(), ln, piv.data(), b.data(), ln);
        if (info != 0) return false;
        return b.allFinite();
    }
#endif
    Eigen::PartialPivLU<matrix<Real>> lu(q);
    for (index_t i = 0; i < n; ++i) {
        if (lu.matrixLU()(i, i) == Real(0)) return false;
    }
    b = lu.solve(b).eval();
    return b.allFinite();
}

/// Rank-revealing (diagonally pivoted) Cholesky of a symmetric PSD matrix
/// given by its lower triangle: returns R (d × r) with S ≈ R Rᵀ, r the
/// numerical rank, stopping when the largest remaining diagonal of the
/// Schur complement is ≤ d·ε·max diag(S) (LAPACK dpstrf's default rule,
/// the Cholesky counterpart of the eigenvalue cut-off).
inline Eigen::MatrixXd pivoted_cholesky_factor(const Eigen::MatrixXd& s) {
    const index_t d = s.rows();
    if (d == 0) return Eigen::MatrixXd(0, 0);
    const double tol = static_cast<double>(d) * std::numeric_limits<double>::epsilon() *
                       std::max(0.0, s.diagonal().maxCoeff());
    Eigen::MatrixXd a = s;
    std::vector<index_t> perm(static_cast<std::size_t>(d));
    index_t rank = 0;
#if MIR_USE_LAPACK
    std::vector<lapack_int> piv(static_cast<std::size_t>(d));
    lapack_int r = 0;
    const lapack_int info = LAPACKE_dpstrf(LAPACK_COL_MAJOR, 'L', static_cast<lapack_int>(d), a.data(),
                                           static_cast<lapack_int>(d), piv.data(), &r, tol);
    if (info < 0) throw error("pivoted Cholesky (LAPACK dpstrf) failed, info = " + std::to_string(info));
    rank = r;
    for (index_t i = 0; i < d; ++i) perm[static_cast<std::size_t>(i)] = piv[static_cast<std::size_t>(i)] - 1;
#else
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
#endif
    // S = P L Lᵀ Pᵀ with L the leading r columns: R = P L.
    Eigen::MatrixXd out = Eigen::MatrixXd::Zero(d, rank);
    for (index_t j = 0; j < rank; ++j) {
        for (index_t i = j; i < d; ++i) out(perm[static_cast<std::size_t>(i)], j) = a(i, j);
    }
    return out;
}

}  // namespace mir::detail
