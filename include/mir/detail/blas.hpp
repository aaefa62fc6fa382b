// mir/detail/blas.hpp — the BLAS/LAPACK kernels the core uses, with a
// pure-Eigen fallback for each, so that MIR_USE_LAPACK only changes speed.
//
// Matrices are column-major, as in Eigen's default storage.
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/Eigenvalues>

#include <type_traits>

#include "mir/config.hpp"
#include "mir/element.hpp"

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

}  // namespace mir::detail
