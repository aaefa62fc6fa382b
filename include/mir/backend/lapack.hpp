// mir/backend/lapack.hpp — the dense kernels through CBLAS + LAPACKE
// (OpenBLAS on Debian), as Eigen keeps *_LAPACKE.h beside its solvers.
// Scalars the libraries lack (e.g. long double in tests) use the Eigen
// backend. Matrices are column-major, as in Eigen's default storage.
#pragma once

#include <Eigen/Core>

#include <type_traits>
#include <vector>

#include <cblas.h>
#include <lapacke.h>

#include "mir/backend/eigen.hpp"
#include "mir/element.hpp"

namespace mir::backend::lapack {

/// OpenBLAS's core name ("SkylakeX", "Haswell", "Prescott" = its generic
/// fallback for CPUs it does not know), or "cblas" for another CBLAS.
inline const char* name() noexcept {
#if defined(OPENBLAS_VERSION)
    return openblas_get_corename();
#else
    return "cblas";
#endif
}

/// OpenBLAS's threads per call (1 for another CBLAS: it cannot be asked).
inline int threads() noexcept {
#if defined(OPENBLAS_VERSION)
    return openblas_get_num_threads();
#else
    return 1;
#endif
}
/// Sets OpenBLAS's threads per call (process-wide); false for another CBLAS.
inline bool set_threads(int n) noexcept {
#if defined(OPENBLAS_VERSION)
    openblas_set_num_threads(n);
    return true;
#else
    (void)n;
    return false;
#endif
}

/// True for the scalars CBLAS/LAPACKE take.
template <class Real>
inline constexpr bool native = std::is_same_v<Real, double> || std::is_same_v<Real, float>;

template <class Acc>
void syrk_lower(index_t d, index_t k, const Acc* a, Acc* c) {
    if constexpr (std::is_same_v<Acc, double>) {
        cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, static_cast<int>(d), static_cast<int>(k), 1.0, a,
                    static_cast<int>(d), 1.0, c, static_cast<int>(d));
    } else if constexpr (std::is_same_v<Acc, float>) {
        cblas_ssyrk(CblasColMajor, CblasLower, CblasNoTrans, static_cast<int>(d), static_cast<int>(k), 1.0f, a,
                    static_cast<int>(d), 1.0f, c, static_cast<int>(d));
    } else {
        eigen::syrk_lower(d, k, a, c);
    }
}

template <class Acc>
void syr_lower(index_t d, Acc w, const Acc* x, Acc* c) {
    if constexpr (std::is_same_v<Acc, double>) {
        cblas_dsyr(CblasColMajor, CblasLower, static_cast<int>(d), w, x, 1, c, static_cast<int>(d));
    } else if constexpr (std::is_same_v<Acc, float>) {
        cblas_ssyr(CblasColMajor, CblasLower, static_cast<int>(d), w, x, 1, c, static_cast<int>(d));
    } else {
        eigen::syr_lower(d, w, x, c);
    }
}

inline bool cholesky_lower(Eigen::MatrixXd& a) {
    const auto n = static_cast<lapack_int>(a.rows());
    if (n == 0) return true;
    if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', n, a.data(), n) != 0) return false;
    a.triangularView<Eigen::StrictlyUpper>().setZero();
    return true;
}

inline Eigen::MatrixXd congruence_lower(const Eigen::MatrixXd& l, const Eigen::MatrixXd& s) {
    const int n = static_cast<int>(l.rows());
    Eigen::MatrixXd w = s;
    if (n == 0) return w;
    // W := S L, then W := Lᵀ W — two triangular products.
    cblas_dtrmm(CblasColMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, n, n, 1.0, l.data(), n, w.data(), n);
    cblas_dtrmm(CblasColMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, n, n, 1.0, l.data(), n, w.data(), n);
    return w;
}

inline bool symmetric_eigenvalues(Eigen::MatrixXd& a, Eigen::VectorXd& w) {
    const auto n = static_cast<lapack_int>(a.rows());
    w.resize(n);
    if (n == 0) return true;
    return LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'N', 'L', n, a.data(), n, w.data()) == 0;
}

inline bool symmetric_eigen_decomposition(const Eigen::MatrixXd& a, Eigen::VectorXd& values,
                                          Eigen::MatrixXd& vectors) {
    const auto n = static_cast<lapack_int>(a.rows());
    vectors = a;
    values.resize(n);
    if (n == 0) return true;
    return LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', n, vectors.data(), n, values.data()) == 0;
}

template <class Real>
void gemm(const matrix<Real>& a, const matrix<Real>& b, matrix<Real>& c, Real alpha = Real(1), Real beta = Real(0),
          bool trans_a = false, bool trans_b = false) {
    if constexpr (!native<Real>) {
        eigen::gemm(a, b, c, alpha, beta, trans_a, trans_b);
    } else {
        const index_t m = trans_a ? a.cols() : a.rows();
        const index_t k = trans_a ? a.rows() : a.cols();
        const index_t n = trans_b ? b.rows() : b.cols();
        if (beta == Real(0)) c.resize(m, n);
        if (m == 0 || n == 0) return;
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
    }
}

/// LU with partial pivoting of the square matrix a in place (getrf), then
/// then_fn(pivots, n) for the rest of the computation; false when a is
/// exactly singular. An empty matrix is done (true) without calling then_fn.
template <class Real, class Then>
bool lu_then(matrix<Real>& a, Then&& then_fn) {
    const auto n = static_cast<lapack_int>(a.rows());
    if (n == 0) return true;
    std::vector<lapack_int> piv(static_cast<std::size_t>(n));
    lapack_int info = 0;
    if constexpr (std::is_same_v<Real, double>) info = LAPACKE_dgetrf(LAPACK_COL_MAJOR, n, n, a.data(), n, piv.data());
    else info = LAPACKE_sgetrf(LAPACK_COL_MAJOR, n, n, a.data(), n, piv.data());
    return info == 0 && then_fn(piv, n);
}

template <class Real>
bool invert_inplace(matrix<Real>& a, double* log_abs_det = nullptr) {
    if constexpr (!native<Real>) {
        return eigen::invert_inplace(a, log_abs_det);
    } else {
        return lu_then(a, [&](const std::vector<lapack_int>& piv, lapack_int n) {
            double lad = 0.0;
            for (index_t i = 0; i < a.rows(); ++i) lad += std::log(std::abs(static_cast<double>(a(i, i))));
            lapack_int info = 0;
            if constexpr (std::is_same_v<Real, double>) info = LAPACKE_dgetri(LAPACK_COL_MAJOR, n, a.data(), n, piv.data());
            else info = LAPACKE_sgetri(LAPACK_COL_MAJOR, n, a.data(), n, piv.data());
            if (info != 0) return false;
            if (log_abs_det) *log_abs_det = lad;
            return a.allFinite();
        });
    }
}

/// getrf + getrs, which is what gesv does.
template <class Real>
bool solve_inplace(matrix<Real>& q, matrix<Real>& b) {
    if constexpr (!native<Real>) {
        return eigen::solve_inplace(q, b);
    } else {
        return lu_then(q, [&](const std::vector<lapack_int>& piv, lapack_int n) {
            const auto nrhs = static_cast<lapack_int>(b.cols());
            lapack_int info = 0;
            if constexpr (std::is_same_v<Real, double>) {
                info = LAPACKE_dgetrs(LAPACK_COL_MAJOR, 'N', n, nrhs, q.data(), n, piv.data(), b.data(), n);
            } else {
                info = LAPACKE_sgetrs(LAPACK_COL_MAJOR, 'N', n, nrhs, q.data(), n, piv.data(), b.data(), n);
            }
            return info == 0 && b.allFinite();
        });
    }
}

/// dpstrf; a failure of its argument checks (info < 0, a programming
/// error) falls back to the Eigen implementation.
inline Eigen::MatrixXd pivoted_cholesky_factor(const Eigen::MatrixXd& s) {
    const index_t d = s.rows();
    if (d == 0) return Eigen::MatrixXd(0, 0);
    Eigen::MatrixXd a = s;
    std::vector<lapack_int> piv(static_cast<std::size_t>(d));
    lapack_int r = 0;
    const lapack_int info = LAPACKE_dpstrf(LAPACK_COL_MAJOR, 'L', static_cast<lapack_int>(d), a.data(),
                                           static_cast<lapack_int>(d), piv.data(), &r,
                                           eigen::pivoted_cholesky_tolerance(s));
    if (info < 0) return eigen::pivoted_cholesky_factor(s);
    std::vector<index_t> perm(static_cast<std::size_t>(d));
    for (index_t i = 0; i < d; ++i) perm[static_cast<std::size_t>(i)] = piv[static_cast<std::size_t>(i)] - 1;
    return eigen::permuted_factor(a, perm, r);
}

}  // namespace mir::backend::lapack
