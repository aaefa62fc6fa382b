// Fréchet distance against closed forms.
#include <catch2/catch.hpp>

#include <mir/metric/frechet.hpp>

#include <cmath>

#include "../support/random.hpp"

TEST_CASE("frechet_distance: commuting covariances, |mu1-mu2|^2 + sum (sqrt a - sqrt b)^2", "[frechet]") {
    const Eigen::Index d = 6;
    const auto q = mir_test::random_orthogonal(d, 5);
    Eigen::VectorXd a(d), b(d), mu1(d), mu2(d);
    a << 4, 1, 0.25, 9, 2, 0.5;
    b << 1, 1, 1, 4, 8, 0.5;
    mu1 << 1, 2, 3, 4, 5, 6;
    mu2 << 0, 2, 1, 4, 5, 7;
    const double want = (mu1 - mu2).squaredNorm() + (a.array().sqrt() - b.array().sqrt()).square().sum();
    const double got =
        mir::frechet_distance(mu1, mir_test::with_spectrum(q, a), mu2, mir_test::with_spectrum(q, b));
    CHECK(std::abs(got - want) <= 1e-12 * want);
}

TEST_CASE("frechet_distance: 2-D Gaussians in closed form, and its symmetry", "[frechet]") {
    Eigen::MatrixXd s1(2, 2), s2(2, 2);
    s1 << 2.0, 0.3, 0.3, 1.0;
    s2 << 1.5, -0.7, -0.7, 2.5;
    Eigen::VectorXd m1(2), m2(2);
    m1 << 0.5, -1.0;
    m2 << -0.25, 2.0;
    const Eigen::MatrixXd p = s1 * s2;
    const double tsqrt = std::sqrt(p.trace() + 2.0 * std::sqrt(p.determinant()));
    const double want = (m1 - m2).squaredNorm() + s1.trace() + s2.trace() - 2.0 * tsqrt;
    CHECK(std::abs(mir::frechet_distance(m1, s1, m2, s2) - want) <= 1e-13 * want);
    CHECK(std::abs(mir::frechet_distance(m2, s2, m1, s1) - want) <= 1e-13 * want);
}

TEST_CASE("frechet_distance: scaling by c multiplies it by c^2", "[frechet]") {
    const Eigen::Index d = 12;
    const auto s1 = mir_test::with_spectrum(mir_test::random_orthogonal(d, 1), mir_test::log_spectrum(d, 50));
    const auto s2 = mir_test::with_spectrum(mir_test::random_orthogonal(d, 2), mir_test::log_spectrum(d, 80));
    const Eigen::VectorXd m1 = Eigen::VectorXd::LinSpaced(d, 0, 1), m2 = Eigen::VectorXd::Constant(d, 0.3);
    const double f = mir::frechet_distance(m1, s1, m2, s2);
    const double c = 3.7;
    CHECK(std::abs(mir::frechet_distance(c * m1, c * c * s1, c * m2, c * c * s2) - c * c * f) <= 1e-12 * c * c * f);
}

TEST_CASE("frechet_distance_terms: the factor route equals the d x d route", "[frechet]") {
    const Eigen::Index d = 30;
    const auto x = mir_test::gaussian_rows(10, d, 41);  // 10 rows < d
    const auto y = mir_test::gaussian_rows(80, d, 42, 2.0, 0.5);
    auto stats = [](const auto& rows, bool with_factor) {
        mir::gaussian_stats g;
        g.count = rows.rows();
        g.mean = rows.colwise().mean().transpose();
        Eigen::MatrixXd c = rows.rowwise() - g.mean.transpose();
        g.covariance = c.transpose() * c / static_cast<double>(g.count - 1);
        if (with_factor) g.factor = c / std::sqrt(static_cast<double>(g.count - 1));
        return g;
    };
    const auto a = mir::frechet_distance_terms(stats(x, true), stats(y, false));
    const auto b = mir::frechet_distance_terms(stats(x, false), stats(y, false));
    CHECK(a.route == mir::trace_sqrt_route::small_side);
    CHECK(b.route == mir::trace_sqrt_route::cholesky);  // S2 has 80 > d rows
    CHECK(std::abs(a.trace_sqrt - b.trace_sqrt) <= 1e-10 * a.trace_sqrt);
    CHECK(std::abs(a.value() - b.value()) <= 1e-10 * a.value());
    CHECK(a.value() == Approx(a.mean_term + a.trace_1 + a.trace_2 - 2 * a.trace_sqrt));
}

TEST_CASE("frechet_distance: mismatched shapes and non-finite means throw", "[frechet][errors]") {
    const Eigen::MatrixXd s = Eigen::MatrixXd::Identity(3, 3);
    const Eigen::VectorXd m3 = Eigen::VectorXd::Zero(3), m2 = Eigen::VectorXd::Zero(2);
    CHECK_THROWS_AS(mir::frechet_distance(m2, s, m3, s), mir::shape_error);
    CHECK_THROWS_AS(mir::frechet_distance(m2, Eigen::MatrixXd::Identity(2, 2), m3, s), mir::shape_error);
    Eigen::VectorXd bad = m3;
    bad[0] = INFINITY;
    CHECK_THROWS_AS(mir::frechet_distance(bad, s, m3, s), mir::non_finite_error);
}
