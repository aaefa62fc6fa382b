// The xtensor adapter: containers, adaptors and strided views give exactly
// the raw view's numbers; in place where the last stride is 1.
#include <catch2/catch.hpp>

#include <mir/adapters/xtensor.hpp>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xstrided_view.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

#include <vector>

#include "fixture.hpp"

using mir::index_t;

static_assert(mir::tensor_like<xt::xarray<float>>);
static_assert(mir::tensor_like<xt::xtensor<double, 2>>);

namespace {

template <class T, xt::layout_type L = xt::layout_type::row_major>
xt::xtensor<T, 2, L> layer_tensor(const mir_test::sample_values<T>& s, int k, std::size_t extra_cols = 0,
                                  std::size_t col0 = 0) {
    xt::xtensor<T, 2, L> x(std::array<std::size_t, 2>{static_cast<std::size_t>(s.tokens),
                                                      static_cast<std::size_t>(s.d) + extra_cols});
    for (index_t t = 0; t < s.tokens; ++t) {
        for (std::size_t j = 0; j < x.shape()[1]; ++j) x(t, j) = T(-5.0f);
        for (index_t j = 0; j < s.d; ++j) x(t, col0 + static_cast<std::size_t>(j)) = s.at(k, t, j);
    }
    return x;
}

}  // namespace

TEMPLATE_TEST_CASE("xtensor adapter: every layout gives the raw view's numbers", "[adapters][xtensor]", mir::half,
                   mir::bfloat16, float, double) {
    using T = TestType;
    const auto samples = mir_test::make_samples<T>(13);
    const auto ref = mir_test::reference_mir(samples);

    SECTION("xtensor, row-major, in place") {
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) {
            auto x = layer_tensor(s, k);
            REQUIRE(std::get<mir::strided_rows<T>>(mir::adapt(x)).data == x.data());
            REQUIRE(mir_test::views_in_place(x, x.data(), x.data() + x.size()));
            return x;
        });
    }
    SECTION("xtensor, column-major, copied") {
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) {
            auto x = layer_tensor<T, xt::layout_type::column_major>(s, k);
            REQUIRE_FALSE(std::get<mir::strided_rows<T>>(mir::adapt(x)).in_place());
            return x;
        });
    }
    SECTION("xarray of shape [1, T, d], in place") {
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) {
            xt::xarray<T> x = layer_tensor(s, k);
            x.reshape({std::size_t{1}, static_cast<std::size_t>(s.tokens), static_cast<std::size_t>(s.d)});
            const auto rows = std::get<mir::strided_rows<T>>(mir::adapt(x));
            REQUIRE(rows.rows == s.tokens);
            REQUIRE(rows.in_place());
            return x;
        });
    }
    SECTION("xt::adapt over the sample's own memory, zero copy") {
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) {
            const std::vector<std::size_t> shape{static_cast<std::size_t>(s.tokens), static_cast<std::size_t>(s.d)};
            auto x = xt::adapt(s.layer(k), static_cast<std::size_t>(s.tokens * s.d), xt::no_ownership(), shape);
            REQUIRE(std::get<mir::strided_rows<T>>(mir::adapt(x)).data == s.layer(k));
            return x;
        });
    }
    SECTION("xt::view of middle columns and of every other row, in place") {
        std::vector<xt::xtensor<T, 2>> keep;
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) {
            auto& big = keep.emplace_back(layer_tensor(s, k, 6, 2));
            auto v = xt::view(big, xt::all(), xt::range(2, 2 + s.d));
            const auto rows = std::get<mir::strided_rows<T>>(mir::adapt(v));
            REQUIRE(rows.in_place());
            REQUIRE(rows.data == big.data() + 2);
            REQUIRE(rows.row_stride == s.d + 6);
            return v;
        });

        std::vector<xt::xtensor<T, 2>> doubled;
        const auto r2 = mir_test::sink_mir(samples, [&](const auto& s, int k) {
            const auto src = layer_tensor(s, k);
            auto& big = doubled.emplace_back(std::array<std::size_t, 2>{2 * static_cast<std::size_t>(s.tokens) + 1,
                                                                       static_cast<std::size_t>(s.d)});
            big.fill(T(9.0f));
            for (index_t t = 0; t < s.tokens; ++t) xt::row(big, 2 * t + 1) = xt::row(src, t);
            auto v = xt::strided_view(big, {xt::range(1, 2 * s.tokens + 1, 2), xt::all()});
            const auto rows = std::get<mir::strided_rows<T>>(mir::adapt(v));
            REQUIRE(rows.row_stride == 2 * s.d);
            REQUIRE(rows.in_place());
            return v;
        });
        mir_test::require_identical(r2, ref);
    }
    SECTION("transpose of a [d, T] tensor, copied") {
        std::vector<xt::xtensor<T, 2>> keep;
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) {
            auto& dt = keep.emplace_back(xt::transpose(layer_tensor(s, k)));  // [d, T], row-major
            auto v = xt::transpose(dt);
            REQUIRE_FALSE(std::get<mir::strided_rows<T>>(mir::adapt(v)).in_place());
            return v;
        });
    }
}
