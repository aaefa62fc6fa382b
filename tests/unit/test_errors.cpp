// Bad input gets a clear exception naming layer, modality and row.
#include <catch2/catch.hpp>

#include <mir/mir.hpp>

#include <cmath>
#include <limits>
#include <vector>

TEST_CASE("NaN and Inf rows are reported with layer, modality, row and column", "[errors]") {
    const mir::index_t d = 3;
    std::vector<double> v(6 * d, 1.0), t(5 * d, 2.0);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] += 0.01 * static_cast<double>(i);
    for (std::size_t i = 0; i < t.size(); ++i) t[i] -= 0.02 * static_cast<double>(i);
    v[4 * d + 2] = std::numeric_limits<double>::quiet_NaN();
    mir::layer_options opt;
    opt.layer = 7;
    CHECK_THROWS_WITH(mir::compute_layer(mir::row_view<double>(v.data(), 6, d), mir::row_view<double>(t.data(), 5, d), opt),
                      Catch::Contains("layer 7") && Catch::Contains("vision row 4") &&
                          Catch::Contains("element 2 is NaN"));
    v[4 * d + 2] = 0.0;
    t[1 * d] = std::numeric_limits<double>::infinity();
    CHECK_THROWS_AS(mir::compute_layer(mir::row_view<double>(v.data(), 6, d), mir::row_view<double>(t.data(), 5, d), opt),
                    mir::non_finite_error);
    CHECK_THROWS_WITH(mir::compute_layer(mir::row_view<double>(v.data(), 6, d), mir::row_view<double>(t.data(), 5, d), opt),
                      Catch::Contains("text row 1") && Catch::Contains("infinite"));
    // f16 infinity from overflowed activations.
    std::vector<mir::half> h(4 * d, mir::half(1.0f));
    h[5] = std::numeric_limits<mir::half>::infinity();
    CHECK_THROWS_AS(mir::compute_layer(mir::row_view<mir::half>(h.data(), 4, d), mir::row_view<double>(t.data(), 1, d)),
                    mir::error);
}

TEST_CASE("fewer than two rows in a modality is an error", "[errors]") {
    const mir::index_t d = 2;
    std::vector<double> one{1.0, 2.0}, many{1, 2, 3, 4, 5, 7};
    mir::layer_options opt;
    opt.layer = 2;
    CHECK_THROWS_AS(mir::compute_layer(mir::row_view<double>(one.data(), 1, d), mir::row_view<double>(many.data(), 3, d), opt),
                    mir::too_few_rows_error);
    CHECK_THROWS_WITH(mir::compute_layer(mir::row_view<double>(many.data(), 3, d), mir::row_view<double>(one.data(), 0, d), opt),
                      Catch::Contains("layer 2") && Catch::Contains("text rows"));
}

TEST_CASE("dimension mismatch and bad strides are errors", "[errors]") {
    std::vector<double> a(12, 1.0), b(12, 2.0);
    CHECK_THROWS_WITH(mir::compute_layer(mir::row_view<double>(a.data(), 4, 3), mir::row_view<double>(b.data(), 3, 4)),
                      Catch::Contains("3 columns") && Catch::Contains("4"));
    CHECK_THROWS_AS(mir::compute_layer(mir::row_view<double>(a.data(), 4, 3, 2), mir::row_view<double>(b.data(), 4, 3)),
                    mir::shape_error);
}

TEST_CASE("MIR refuses a non-positive sum instead of returning NaN", "[errors]") {
    CHECK_THROWS_AS(mir::mir_from_fids(std::vector<double>{}), mir::argument_error);
    CHECK_THROWS_AS(mir::mir_from_fids(std::vector<double>{0.0, -0.0}), mir::undefined_error);  // coinciding statistics
    CHECK_THROWS_AS(mir::mir_from_fids(std::vector<double>{1.0, -2.0}), mir::argument_error);
    CHECK(mir::mir_from_fids(std::vector<double>{40.0, 60.0}) == Approx(2.0).epsilon(1e-15));
}
