// A backend of the test's own, plugged in through MIR_BACKEND_HEADER /
// MIR_BACKEND_NAMESPACE the way a CUDA backend would be: it forwards to
// the Eigen backend, counts the calls, and can be told to fail the
// eigenvalue solver.
#pragma once

#include <mir/backend/eigen.hpp>

namespace mir::backend::counting {

struct counters {
    int syrk = 0, syr = 0, gemm = 0, cholesky = 0, congruence = 0, eigenvalues = 0, eigendecomposition = 0;
    int pivoted = 0, invert = 0, solve = 0;
    bool fail_eigenvalues = false;
};
inline counters& calls() {
    static counters c;
    return c;
}

inline const char* name() noexcept { return "counting"; }
inline int threads() noexcept { return eigen::threads(); }
inline bool set_threads(int n) noexcept { return eigen::set_threads(n); }

template <class Acc>
void syrk_lower(index_t d, index_t k, const Acc* a, Acc* c) {
    ++calls().syrk;
    eigen::syrk_lower(d, k, a, c);
}
template <class Acc>
void syr_lower(index_t d, Acc w, const Acc* x, Acc* c) {
    ++calls().syr;
    eigen::syr_lower(d, w, x, c);
}
inline bool cholesky_lower(Eigen::MatrixXd& a) {
    ++calls().cholesky;
    return eigen::cholesky_lower(a);
}
inline Eigen::MatrixXd congruence_lower(const Eigen::MatrixXd& l, const Eigen::MatrixXd& s) {
    ++calls().congruence;
    return eigen::congruence_lower(l, s);
}
inline bool symmetric_eigenvalues(Eigen::MatrixXd& a, Eigen::VectorXd& w) {
    ++calls().eigenvalues;
    if (calls().fail_eigenvalues) return false;
    return eigen::symmetric_eigenvalues(a, w);
}
inline bool symmetric_eigen_decomposition(const Eigen::MatrixXd& a, Eigen::VectorXd& values, Eigen::MatrixXd& vectors) {
    ++calls().eigendecomposition;
    return eigen::symmetric_eigen_decomposition(a, values, vectors);
}
template <class Real>
void gemm(const matrix<Real>& a, const matrix<Real>& b, matrix<Real>& c, Real alpha = Real(1), Real beta = Real(0),
          bool trans_a = false, bool trans_b = false) {
    ++calls().gemm;
    eigen::gemm(a, b, c, alpha, beta, trans_a, trans_b);
}
template <class Real>
bool invert_inplace(matrix<Real>& a, double* log_abs_det = nullptr) {
    ++calls().invert;
    return eigen::invert_inplace(a, log_abs_det);
}
template <class Real>
bool solve_inplace(matrix<Real>& q, matrix<Real>& b) {
    ++calls().solve;
    return eigen::solve_inplace(q, b);
}
inline Eigen::MatrixXd pivoted_cholesky_factor(const Eigen::MatrixXd& s) {
    ++calls().pivoted;
    return eigen::pivoted_cholesky_factor(s);
}

}  // namespace mir::backend::counting
