// Streaming moments against a long-double two-pass oracle; Chan merge.
#include <catch2/catch.hpp>

#include <mir/stats/moments.hpp>

#include <Eigen/Dense>

#include "../support/random.hpp"

namespace {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Two-pass covariance in long double.
void oracle(const RowMatrix& x, Eigen::VectorXd& mean, Eigen::MatrixXd& cov) {
    using L = Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic>;
    const L xl = x.cast<long double>();
    const Eigen::Matrix<long double, 1, Eigen::Dynamic> m = xl.colwise().mean();
    const L c = xl.rowwise() - m;
    mean = m.transpose().cast<double>();
    cov = (c.transpose() * c / static_cast<long double>(x.rows() - 1)).cast<double>();
}

mir::row_view<double> view(const RowMatrix& x) { return {x.data(), x.rows(), x.cols()}; }

}  // namespace

TEST_CASE("moments: mean and Bessel covariance match a long-double two-pass oracle", "[moments]") {
    // A large common offset: the one-pass Σxxᵀ − nμμᵀ would lose ~8 digits here.
    const RowMatrix x = mir_test::gaussian_rows(1000, 24, 3, 1.0, 1e4);
    Eigen::VectorXd mean;
    Eigen::MatrixXd cov;
    oracle(x, mean, cov);
    const mir::index_t block = GENERATE(1, 7, 256, 5000);
    mir::moments<double> m(24, block);
    m.add(view(x));
    CHECK(m.count() == 1000);
    CHECK((m.mean_f64() - mean).norm() <= 1e-12 * mean.norm());
    CHECK((m.covariance() - cov).norm() <= 1e-11 * cov.norm());
}

TEST_CASE("moments: merge equals accumulating the union", "[moments]") {
    const RowMatrix x = mir_test::gaussian_rows(300, 16, 5, 2.0, 3.0);
    mir::moments<double> all(16), a(16), b(16), c(16);
    all.add(view(x));
    a.add(mir::row_view<double>(x.data(), 100, 16));
    b.add(mir::row_view<double>(x.data() + 100 * 16, 150, 16));
    c.add(mir::row_view<double>(x.data() + 250 * 16, 50, 16));
    a.merge(b);
    a.merge(c);
    CHECK(a.count() == all.count());
    CHECK((a.mean_f64() - all.mean_f64()).norm() <= 1e-14 * all.mean_f64().norm());
    CHECK((a.covariance() - all.covariance()).norm() <= 1e-13 * all.covariance().norm());
    // Merging into an empty accumulator copies.
    mir::moments<double> e(16);
    e.merge(all);
    CHECK((e.covariance() - all.covariance()).norm() == 0.0);
}

TEST_CASE("moments: add_constant equals adding copies of the row", "[moments]") {
    const RowMatrix x = mir_test::gaussian_rows(50, 8, 9);
    Eigen::VectorXd r = Eigen::VectorXd::LinSpaced(8, -1, 1);
    RowMatrix y(53, 8);
    y.topRows(50) = x;
    for (int i = 0; i < 3; ++i) y.row(50 + i) = r.transpose();
    mir::moments<double> a(8), b(8);
    a.add(view(x));
    a.add_constant(r, 3);
    b.add(view(y));
    CHECK((a.covariance() - b.covariance()).norm() <= 1e-13 * b.covariance().norm());
    CHECK((a.mean_f64() - b.mean_f64()).norm() <= 1e-14 * b.mean_f64().norm());
}

TEST_CASE("moments: fp32 accumulation stays close to fp64", "[moments]") {
    const RowMatrix x = mir_test::gaussian_rows(2000, 32, 13, 1.0, 5.0);
    Eigen::VectorXd mean;
    Eigen::MatrixXd cov;
    oracle(x, mean, cov);
    const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> xf = x.cast<float>();
    mir::moments<float> m(32);
    m.add(mir::row_view<float>(xf.data(), xf.rows(), xf.cols()));
    CHECK((m.covariance() - cov).norm() <= 1e-5 * cov.norm());
}

TEST_CASE("moments: errors", "[moments][errors]") {
    CHECK_THROWS_AS(mir::moments<double>(0), mir::shape_error);
    mir::moments<double> m(4);
    const RowMatrix x = mir_test::gaussian_rows(1, 3, 1);
    CHECK_THROWS_AS(m.add(view(x)), mir::shape_error);
    const RowMatrix y = mir_test::gaussian_rows(1, 4, 1);
    m.add(view(y));
    CHECK_THROWS_WITH(m.covariance(), Catch::Contains("at least 2 rows"));
}
