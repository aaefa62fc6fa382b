// mir/element.hpp — the element types token rows may hold, and row views.
//
// Hidden states arrive as float, double, IEEE half or bfloat16, row-major
// with a row stride (a token per row, hidden size d per row). A row_view is
// the one currency every statistic consumes; adapters for frameworks
// produce it. Conversion to the accumulation type happens per block of rows
// (detail::load_rows), so a 16-bit dump is never widened as a whole.
#pragma once

#include <Eigen/Core>

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "mir/config.hpp"
#include "mir/detail/enum_name.hpp"
#include "mir/error.hpp"

namespace mir {

using half = Eigen::half;
using bfloat16 = Eigen::bfloat16;
using index_t = std::ptrdiff_t;

/// Runtime tag of an element type (for type-erased views, files, messages).
enum class dtype : std::uint8_t { f16, bf16, f32, f64 };

/// The element types token rows may hold.
template <class T>
concept element = std::same_as<T, float> || std::same_as<T, double> ||
                  std::same_as<T, half> || std::same_as<T, bfloat16>;

/// The types statistics may accumulate in (fp64 by default, fp32 for speed).
template <class T>
concept accumulator_type = std::same_as<T, float> || std::same_as<T, double>;

template <element T>
inline constexpr dtype dtype_of = std::same_as<T, float>    ? dtype::f32
                                  : std::same_as<T, double> ? dtype::f64
                                  : std::same_as<T, half>   ? dtype::f16
                                                            : dtype::bf16;

constexpr std::string_view to_string(dtype t) noexcept {
    return detail::enum_name(t, std::array<std::string_view, 4>{"f16", "bf16", "f32", "f64"});
}

constexpr std::size_t size_of(dtype t) noexcept {
    return t == dtype::f64 ? 8 : t == dtype::f32 ? 4 : 2;
}

/// Widening conversion of one element. Exact for every supported pair
/// except f64 -> f32.
template <accumulator_type Acc, element T>
constexpr Acc to_acc(T v) noexcept {
    if constexpr (std::same_as<T, half> || std::same_as<T, bfloat16>) {
        return static_cast<Acc>(static_cast<float>(v));
    } else {
        return static_cast<Acc>(v);
    }
}

/// A read-only view of `rows` token rows of `cols` elements each; row i
/// starts at data + i * row_stride (row_stride >= cols, in elements).
template <element T>
struct row_view {
    using value_type = T;

    const T* data = nullptr;
    index_t rows = 0;
    index_t cols = 0;
    index_t row_stride = 0;

    constexpr row_view() = default;
    constexpr row_view(const T* d, index_t r, index_t c, index_t stride) noexcept
        : data(d), rows(r), cols(c), row_stride(stride) {}
    constexpr row_view(const T* d, index_t r, index_t c) noexcept : row_view(d, r, c, c) {}

    [[nodiscard]] constexpr const T* row(index_t i) const noexcept { return data + i * row_stride; }
    [[nodiscard]] constexpr bool empty() const noexcept { return rows == 0; }
    /// Rows [first, first + count).
    [[nodiscard]] constexpr row_view middle_rows(index_t first, index_t count) const noexcept {
        return {data + first * row_stride, count, cols, row_stride};
    }
};

/// Checks the shape invariants of a view; `what` names it in the message.
template <element T>
void validate_view(const row_view<T>& v, std::string_view what) {
    if (v.rows < 0 || v.cols < 0) {
        throw shape_error(std::string(what) + ": negative shape");
    }
    if (v.rows > 0 && v.cols > 0 && v.data == nullptr) {
        throw shape_error(std::string(what) + ": null data pointer for a non-empty view");
    }
    if (v.rows > 1 && v.row_stride < v.cols) {
        throw shape_error(std::string(what) + ": row stride " + std::to_string(v.row_stride) +
                          " is smaller than the row length " + std::to_string(v.cols));
    }
}

namespace detail {

/// Converts rows [first, first + count) of `v` into a dense row-major
/// buffer `out` of count x v.cols accumulation elements.
template <accumulator_type Acc, element T>
void load_rows(const row_view<T>& v, index_t first, index_t count, Acc* out, double scale = 1.0) noexcept {
    const index_t d = v.cols;
    for (index_t i = 0; i < count; ++i) {
        const T* src = v.row(first + i);
        Acc* dst = out + i * d;
        if (scale == 1.0) {
            for (index_t j = 0; j < d; ++j) dst[j] = to_acc<Acc>(src[j]);
        } else {  // scaled in double, then narrowed: in range for Acc (moments::set_scale)
            for (index_t j = 0; j < d; ++j) dst[j] = static_cast<Acc>(to_acc<double>(src[j]) * scale);
        }
    }
}

/// Same, for an arbitrary list of row indices.
template <accumulator_type Acc, element T>
void gather_rows(const row_view<T>& v, const index_t* indices, index_t count, Acc* out, double scale = 1.0) noexcept {
    const index_t d = v.cols;
    for (index_t i = 0; i < count; ++i) {
        const T* src = v.row(indices[i]);
        Acc* dst = out + i * d;
        if (scale == 1.0) {
            for (index_t j = 0; j < d; ++j) dst[j] = to_acc<Acc>(src[j]);
        } else {
            for (index_t j = 0; j < d; ++j) dst[j] = static_cast<Acc>(to_acc<double>(src[j]) * scale);
        }
    }
}

}  // namespace detail
}  // namespace mir
