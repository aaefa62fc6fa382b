// tests/support/random.hpp — seeded test matrices with known spectra.
#pragma once

#include <Eigen/Dense>

#include <cmath>
#include <random>

namespace mir_test {

/// A random orthogonal d x d matrix (QR of a Gaussian matrix), seeded.
inline Eigen::MatrixXd random_orthogonal(Eigen::Index d, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> n(0.0, 1.0);
    Eigen::MatrixXd g(d, d);
    for (Eigen::Index i = 0; i < g.size(); ++i) g.data()[i] = n(rng);
    Eigen::HouseholderQR<Eigen::MatrixXd> qr(g);
    return qr.householderQ() * Eigen::MatrixXd::Identity(d, d);
}

/// Eigenvalues log-spaced from 1 down to 1/kappa.
inline Eigen::VectorXd log_spectrum(Eigen::Index d, double kappa) {
    Eigen::VectorXd v(d);
    for (Eigen::Index i = 0; i < d; ++i) {
        v[i] = std::pow(kappa, -static_cast<double>(i) / static_cast<double>(std::max<Eigen::Index>(1, d - 1)));
    }
    return v;
}

/// Q diag(lambda) Q^T, symmetrised.
inline Eigen::MatrixXd with_spectrum(const Eigen::MatrixXd& q, const Eigen::VectorXd& lambda) {
    Eigen::MatrixXd s = q * lambda.asDiagonal() * q.transpose();
    return (0.5 * (s + s.transpose())).eval();
}

/// Row-major n x d Gaussian rows with per-column scale and a mean offset.
inline Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> gaussian_rows(
    Eigen::Index n, Eigen::Index d, unsigned seed, double scale = 1.0, double offset = 0.0) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> g(0.0, 1.0);
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> x(n, d);
    for (Eigen::Index i = 0; i < n; ++i) {
        for (Eigen::Index j = 0; j < d; ++j) {
            x(i, j) = offset + scale * (1.0 + 0.1 * static_cast<double>(j % 7)) * g(rng);
        }
    }
    return x;
}

}  // namespace mir_test
