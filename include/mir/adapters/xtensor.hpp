// mir/adapters/xtensor.hpp — xtensor expressions as token rows.
//
// Containers (xt::xarray, xt::xtensor, xt::xtensor_fixed), adaptors
// (xt::adapt over a pointer or a std::vector) and strided views
// (xt::view with ranges/integers/xt::all, xt::strided_view, xt::transpose of
// a container) of float, double, Eigen::half or Eigen::bfloat16: anything
// with data(), data_offset() and strides(). Shape [tokens, hidden] or
// [1, tokens, hidden] (leading dimensions merge into the token index).
// Row-major with unit last stride is read in place; column-major and
// transposed layouts go through row-major block copies. Lazy expressions
// (a + b, xt::keep views, …) must be evaluated first: call xt::eval().
#pragma once

#include <xtensor/xexpression.hpp>
#include <xtensor/xutils.hpp>

#include <type_traits>
#include <vector>

#include "mir/adapters/adapter.hpp"
#include "mir/element.hpp"

namespace mir {

namespace detail {

template <class X>
concept xtensor_expression = xt::is_xexpression<X>::value;

template <class X>
concept xtensor_strided = xtensor_expression<X> && requires(const X& x) {
    x.data() + x.data_offset();
    x.strides();
    x.shape();
};

}  // namespace detail

template <detail::xtensor_expression X>
struct tensor_adapter<X> {
    using value_type = std::remove_cv_t<typename X::value_type>;
    static_assert(detail::xtensor_strided<X> && element<value_type>,
                  "mir: this xtensor expression has no strided storage to read (a lazy function or a non-strided "
                  "view: evaluate it first with xt::eval()), or its values are not float, double, Eigen::half or "
                  "Eigen::bfloat16");

    static strided_rows<value_type> rows(const X& x) {
        const auto& shp = x.shape();
        const auto& str = x.strides();
        std::vector<index_t> shape(shp.begin(), shp.end());
        std::vector<index_t> strides(str.begin(), str.end());
        const value_type* data = x.data() + x.data_offset();
        return detail::rows_from_shape(data, shape, strides, "xtensor expression");
    }
};

}  // namespace mir
