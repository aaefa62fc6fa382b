// Tr (S1 S2)^{1/2} against oracles nobody tuned: closed forms for commuting
// matrices and 2 x 2 problems, and a long-double (64-bit mantissa)
// evaluation for general, ill-conditioned and rank-deficient inputs.
#include <catch2/catch.hpp>

#include <mir/linalg/trace_sqrt.hpp>

#include <Eigen/Dense>

#include <cmath>

#include "../support/random.hpp"

namespace {

using LMatrix = Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic>;

/// Σ √λ(Lᵀ S2 L) in long double, S1 = L Lᵀ; for singular S1 the factor is
/// V Λ^{1/2}. The inputs are the same doubles the library sees.
long double oracle(const Eigen::MatrixXd& s1, const Eigen::MatrixXd& s2) {
    const LMatrix a = s1.cast<long double>(), b = s2.cast<long double>();
    Eigen::SelfAdjointEigenSolver<LMatrix> e1(a);
    const auto& lam = e1.eigenvalues();
    const long double cut1 = lam.maxCoeff() * a.rows() * std::numeric_limits<long double>::epsilon();
    LMatrix r = LMatrix::Zero(a.rows(), a.rows());
    for (Eigen::Index i = 0; i < lam.size(); ++i) {
        if (lam[i] > cut1) r.col(i) = e1.eigenvectors().col(i) * std::sqrt(lam[i]);
    }
    const LMatrix m = r.transpose() * b * r;
    Eigen::SelfAdjointEigenSolver<LMatrix> e2(m, Eigen::EigenvaluesOnly);
    const auto& mu = e2.eigenvalues();
    const long double cut2 = mu.maxCoeff() * m.rows() * std::numeric_limits<long double>::epsilon();
    long double s = 0;
    for (Eigen::Index i = 0; i < mu.size(); ++i) {
        if (mu[i] > cut2) s += std::sqrt(mu[i]);
    }
    return s;
}

double rel(double got, long double want) { return static_cast<double>(std::abs((got - want) / want)); }

}  // namespace

TEST_CASE("trace_sqrt_product: commuting matrices give sum sqrt(d1 d2)", "[trace_sqrt]") {
    const Eigen::Index d = GENERATE(1, 2, 17, 64);
    const auto q = mir_test::random_orthogonal(d, 7);
    Eigen::VectorXd d1 = mir_test::log_spectrum(d, 1e3), d2 = mir_test::log_spectrum(d, 1e2).reverse();
    const double want = (d1.array() * d2.array()).sqrt().sum();
    const double got = mir::trace_sqrt_product(mir_test::with_spectrum(q, d1), mir_test::with_spectrum(q, d2));
    CHECK(std::abs(got - want) <= 1e-12 * want);
}

TEST_CASE("trace_sqrt_product: 2 x 2 closed form sqrt(tr M + 2 sqrt(det M))", "[trace_sqrt]") {
    Eigen::MatrixXd a(2, 2), b(2, 2);
    a << 4.0, 1.0, 1.0, 3.0;
    b << 2.0, -0.5, -0.5, 1.0;
    const Eigen::MatrixXd m = a * b;
    const double want = std::sqrt(m.trace() + 2.0 * std::sqrt(m.determinant()));
    CHECK(std::abs(mir::trace_sqrt_product(a, b) - want) <= 1e-14 * want);
    CHECK(std::abs(mir::trace_sqrt_product(b, a) - want) <= 1e-14 * want);
}

TEST_CASE("trace_sqrt_product: long-double oracle, kappa up to 1e6, within 1e-10", "[trace_sqrt]") {
    const double kappa = GENERATE(1e1, 1e3, 1e6);
    const Eigen::Index d = GENERATE(8, 48, 96);
    const auto s1 = mir_test::with_spectrum(mir_test::random_orthogonal(d, 11), mir_test::log_spectrum(d, kappa));
    const auto s2 = mir_test::with_spectrum(mir_test::random_orthogonal(d, 12), mir_test::log_spectrum(d, kappa));
    const auto r = mir::trace_sqrt_product_detailed(s1, s2);
    INFO("kappa " << kappa << ", d " << d << ", route " << mir::to_string(r.route));
    CHECK(r.route == mir::trace_sqrt_route::cholesky);
    CHECK(rel(r.value, oracle(s1, s2)) <= 1e-10);
}

TEST_CASE("trace_sqrt_product: kappa up to 1e12 stays accurate and finite", "[trace_sqrt]") {
    const double kappa = GENERATE(1e9, 1e12);
    const Eigen::Index d = 64;
    const auto s1 = mir_test::with_spectrum(mir_test::random_orthogonal(d, 21), mir_test::log_spectrum(d, kappa));
    const auto s2 = mir_test::with_spectrum(mir_test::random_orthogonal(d, 22), mir_test::log_spectrum(d, kappa));
    const double got = mir::trace_sqrt_product(s1, s2);
    REQUIRE(std::isfinite(got));
    // Eigenvalues of the product below λ_max·n·ε (~1e-14 here) are rounding
    // noise in double and are cut (SPEC §2.3); their true square roots are up
    // to ~1e-7 each, which bounds the attainable relative accuracy near 1e-7.
    const double r = rel(got, oracle(s1, s2));
    INFO("relative error " << r);
    CHECK(r <= 1e-6);
}

TEST_CASE("trace_sqrt_product: rank-deficient inputs use the fallback and stay exact", "[trace_sqrt]") {
    const Eigen::Index d = 40, r1 = 12, r2 = 25;
    const auto x = mir_test::gaussian_rows(r1, d, 31);
    const auto y = mir_test::gaussian_rows(r2, d, 32);
    const Eigen::MatrixXd s1 = x.transpose() * x, s2 = y.transpose() * y;  // ranks 12 and 25
    const auto r = mir::trace_sqrt_product_detailed(s1, s2);
    CHECK(r.route == mir::trace_sqrt_route::eigen_fallback);
    // Oracle from the exact factor: S1 = XᵀX, so the eigenvalues are those of X S2 Xᵀ.
    const LMatrix xl = x.cast<long double>(), s2l = s2.cast<long double>();
    const LMatrix m = xl * s2l * xl.transpose();
    Eigen::SelfAdjointEigenSolver<LMatrix> e(m, Eigen::EigenvaluesOnly);
    long double want = 0;
    for (Eigen::Index i = 0; i < e.eigenvalues().size(); ++i) want += std::sqrt(std::max<long double>(0, e.eigenvalues()[i]));
    // The rank of S1 S2 is 12: rounding-level eigenvalues must be cut, not rooted.
    CHECK(rel(r.value, want) <= 1e-10);
    CHECK(r.eigenvalues.order - r.eigenvalues.zeroed <= r1);

    SECTION("the small-side route on the factor agrees") {
        const auto f = mir::trace_sqrt_product_factor(Eigen::MatrixXd(x), s2);
        CHECK(f.route == mir::trace_sqrt_route::small_side);
        CHECK(rel(f.value, want) <= 1e-12);
    }
}

TEST_CASE("trace_sqrt_product: zero and identical inputs", "[trace_sqrt]") {
    const Eigen::Index d = 5;
    CHECK(mir::trace_sqrt_product(Eigen::MatrixXd::Zero(d, d), Eigen::MatrixXd::Identity(d, d)) == 0.0);
    const auto s = mir_test::with_spectrum(mir_test::random_orthogonal(d, 3), mir_test::log_spectrum(d, 10.0));
    // Tr (S S)^{1/2} = Tr S.
    CHECK(std::abs(mir::trace_sqrt_product(s, s) - s.trace()) <= 1e-13 * s.trace());
    // d = 0 is an empty problem, not an error.
    CHECK(mir::trace_sqrt_product(Eigen::MatrixXd(0, 0), Eigen::MatrixXd(0, 0)) == 0.0);
}

TEST_CASE("trace_sqrt_product: bad input is rejected clearly", "[trace_sqrt][errors]") {
    Eigen::MatrixXd a = Eigen::MatrixXd::Identity(3, 3), b = Eigen::MatrixXd::Identity(4, 4);
    CHECK_THROWS_AS(mir::trace_sqrt_product(a, b), mir::shape_error);
    CHECK_THROWS_AS(mir::trace_sqrt_product(Eigen::MatrixXd::Identity(3, 2), a), mir::shape_error);
    a(1, 1) = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_WITH(mir::trace_sqrt_product(a, Eigen::MatrixXd::Identity(3, 3)), Catch::Contains("NaN"));
}

TEST_CASE("trace_of_product equals Tr(S1 S2) and exceeds the square root's scale", "[trace_sqrt]") {
    const Eigen::Index d = 9;
    const auto s1 = mir_test::with_spectrum(mir_test::random_orthogonal(d, 51), mir_test::log_spectrum(d, 30));
    const auto s2 = mir_test::with_spectrum(mir_test::random_orthogonal(d, 52), mir_test::log_spectrum(d, 70));
    const double want = (s1 * s2).trace();
    CHECK(std::abs(mir::trace_of_product(s1, s2) - want) <= 1e-14 * std::abs(want));
    CHECK(mir::parse_sqrt_method("reference-fast") == mir::sqrt_method::reference_fast);
    CHECK_THROWS_AS(mir::parse_sqrt_method("fast"), mir::argument_error);
}
