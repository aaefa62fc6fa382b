// The 3σ rule of SPEC §2.2: lower median, Bessel std, strict inequality,
// and the three policies.
#include <catch2/catch.hpp>

#include <mir/mir.hpp>

#include <cmath>
#include <vector>

#include "../support/random.hpp"

TEST_CASE("lower_median picks the lower middle value for even counts", "[outliers]") {
    std::vector<double> even{4, 1, 3, 2};
    CHECK(mir::lower_median(even) == 2.0);
    std::vector<double> odd{5, 1, 3};
    CHECK(mir::lower_median(odd) == 3.0);
    CHECK_THROWS_AS(mir::lower_median(std::vector<double>{}), mir::too_few_rows_error);
}

TEST_CASE("bessel_stddev divides by count - 1", "[outliers]") {
    std::vector<double> v{1, 2, 3, 4};
    CHECK(mir::bessel_stddev(v) == Approx(std::sqrt(5.0 / 3.0)).epsilon(1e-15));
}

TEST_CASE("outlier_rule is strict: exactly 3 sigma away is not an outlier", "[outliers]") {
    const mir::outlier_rule r{10.0, 2.0};
    CHECK_FALSE(r.is_outlier(16.0));
    CHECK_FALSE(r.is_outlier(4.0));
    CHECK(r.is_outlier(std::nextafter(16.0, 100.0)));
    // Below the median: |n − m| is exact when m = 0.
    const mir::outlier_rule z{0.0, 2.0};
    CHECK_FALSE(z.is_outlier(-6.0));
    CHECK(z.is_outlier(std::nextafter(-6.0, -100.0)));
}

TEST_CASE("per_dimension_lower_median is taken per column", "[outliers]") {
    const double rows[] = {1, 10, 4, 40, 2, 20, 3, 30};  // 4 rows x 2
    const auto m = mir::per_dimension_lower_median(mir::row_view<double>(rows, 4, 2));
    CHECK(m[0] == 2.0);
    CHECK(m[1] == 20.0);
}

TEST_CASE("policies: counts, row numbers and the replacement", "[outliers]") {
    // 40 ordinary rows and one massive row.
    auto x = mir_test::gaussian_rows(41, 6, 17);
    x.row(40) *= 1000.0;
    const mir::row_view<double> v(x.data(), x.rows(), x.cols());
    const auto norms = mir::row_norms(v);
    const auto none = mir::modality_statistics(v, norms, mir::outlier_policy::none);
    const auto drop = mir::modality_statistics(v, norms, mir::outlier_policy::drop);
    const auto repl = mir::modality_statistics(v, norms, mir::outlier_policy::replace_median);
    CHECK(none.outliers == 0);
    CHECK(none.gaussian.count == 41);
    CHECK(drop.outliers == 1);
    CHECK(drop.gaussian.count == 40);
    CHECK(repl.outliers == 1);
    CHECK(repl.gaussian.count == 41);
    // Replacing by hand gives the same statistics.
    auto y = x;
    y.row(40) = mir::per_dimension_lower_median(v).transpose();
    const auto by_hand = mir::modality_statistics(mir::row_view<double>(y.data(), y.rows(), y.cols()),
                                                  mir::row_norms(mir::row_view<double>(y.data(), y.rows(), y.cols())),
                                                  mir::outlier_policy::none);
    CHECK((repl.gaussian.covariance - by_hand.gaussian.covariance).norm() <=
          1e-13 * by_hand.gaussian.covariance.norm());
    CHECK((repl.gaussian.mean - by_hand.gaussian.mean).norm() <= 1e-14 * by_hand.gaussian.mean.norm());
    CHECK_THROWS_AS(mir::parse_outlier_policy("median"), mir::argument_error);
    CHECK(mir::parse_outlier_policy("drop") == mir::outlier_policy::drop);
}

TEST_CASE("text_centric_scale is one over the mean text norm", "[outliers]") {
    std::vector<double> n{1.0, 2.0, 3.0};
    CHECK(mir::text_centric_scale(n) == Approx(0.5).epsilon(1e-15));
    CHECK_THROWS_AS(mir::text_centric_scale(std::vector<double>{0.0, 0.0}), mir::argument_error);
}
