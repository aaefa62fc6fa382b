// mir/adapters/adapter.hpp — the one extension point for tensor types.
//
// A framework plugs in by specialising mir::tensor_adapter<X> (the way fmt
// plugs types into formatter<T>) with one static function
//
//     static strided_rows<E> rows(const X&);   // E: float, double, half, bfloat16
//  or static any_strided_rows rows(const X&);  // element type known at run time
//
// that says where the tensor's elements are: data pointer, rows (tokens),
// cols (hidden size), row stride and column stride in elements. Nothing is
// copied to describe a tensor. Consumers then ask for row_views, the
// currency of every statistic: in place when the columns are unit-stride
// (zero copy), otherwise through a block buffer of row-major copies
// (column-major matrices, transposed views) — never silently wrong.
//
// The opt-in headers beside this one specialise it for raw memory, Eigen,
// xtensor, DLPack and libtorch; row_view itself is adapted here.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"

namespace mir {

/// A 2-D strided description of token rows: element (i, j) lives at
/// data[i * row_stride + j * col_stride]. Strides are in elements and may be
/// zero or negative (broadcasts, reversed views); only in-place row views
/// need col_stride == 1.
template <element T>
struct strided_rows {
    using value_type = T;

    const T* data = nullptr;
    index_t rows = 0, cols = 0;
    index_t row_stride = 0, col_stride = 1;  ///< in elements

    /// Whether row_views can point into the tensor itself (zero copy).
    [[nodiscard]] constexpr bool in_place() const noexcept {
        return col_stride == 1 && (rows <= 1 || row_stride >= cols);
    }
    /// The zero-copy view; precondition: in_place().
    [[nodiscard]] constexpr row_view<T> view() const noexcept {
        return {data, rows, cols, rows <= 1 ? cols : row_stride};
    }
    /// Rows [first, first + count).
    [[nodiscard]] constexpr strided_rows middle_rows(index_t first, index_t count) const noexcept {
        return {data + first * row_stride, count, cols, row_stride, col_stride};
    }
};

/// Strided rows whose element type is a run-time property (DLPack, libtorch,
/// raw memory with a dtype tag).
using any_strided_rows =
    std::variant<strided_rows<half>, strided_rows<bfloat16>, strided_rows<float>, strided_rows<double>>;

/// The extension point: specialise for a tensor type X with
/// `static strided_rows<E> rows(const X&)` or `static any_strided_rows rows(const X&)`.
/// The primary template is declared, never defined: an unadapted type fails
/// the tensor_like concept instead of compiling into something wrong.
template <class X>
struct tensor_adapter;

namespace detail {

template <class R>
struct is_rows_result : std::false_type {};
template <element T>
struct is_rows_result<strided_rows<T>> : std::true_type {};
template <>
struct is_rows_result<any_strided_rows> : std::true_type {};

}  // namespace detail

/// Types with a tensor_adapter specialisation.
template <class X>
concept tensor_like = requires(const X& x) {
    { tensor_adapter<std::remove_cvref_t<X>>::rows(x) };
    requires detail::is_rows_result<
        std::remove_cvref_t<decltype(tensor_adapter<std::remove_cvref_t<X>>::rows(x))>>::value;
};

/// The rows of any adaptable tensor, element type erased.
template <tensor_like X>
[[nodiscard]] any_strided_rows adapt(const X& x) {
    return any_strided_rows(tensor_adapter<std::remove_cvref_t<X>>::rows(x));
}

/// Calls fn(strided_rows<E>) with the tensor's static element type E.
template <tensor_like X, class Fn>
decltype(auto) visit_rows(const X& x, Fn&& fn) {
    auto r = tensor_adapter<std::remove_cvref_t<X>>::rows(x);
    if constexpr (std::same_as<decltype(r), any_strided_rows>) {
        return std::visit(std::forward<Fn>(fn), r);
    } else {
        return std::forward<Fn>(fn)(r);
    }
}

/// Rows per copied block when a tensor cannot be viewed in place (a
/// multiple of the accumulators' 256-row blocks). Consumers may see a copied
/// tensor cut into more pieces than an in-place one, so results agree up to
/// the order of summation (1e-12 relative), not bitwise.
inline constexpr index_t default_copy_block_rows = 1024;

/// Calls fn(row_view<T>, first_row) over the rows: once, in place, when the
/// columns are unit-stride; otherwise block by block from a row-major copy
/// of at most `block_rows` rows (the only memory it allocates).
template <element T, class Fn>
void for_each_row_block(const strided_rows<T>& r, Fn&& fn, index_t block_rows = default_copy_block_rows) {
    if (r.rows == 0) return;
    if (r.in_place()) {
        fn(r.view(), index_t{0});
        return;
    }
    const index_t br = std::max<index_t>(1, std::min(block_rows, r.rows));
    std::vector<T> buffer(static_cast<std::size_t>(br * r.cols));
    for (index_t first = 0; first < r.rows; first += br) {
        const index_t k = std::min(br, r.rows - first);
        for (index_t i = 0; i < k; ++i) {
            const T* src = r.data + (first + i) * r.row_stride;
            T* dst = buffer.data() + i * r.cols;
            for (index_t j = 0; j < r.cols; ++j) dst[j] = src[j * r.col_stride];
        }
        fn(row_view<T>(buffer.data(), k, r.cols, r.cols), first);
    }
}

/// Adapter for row_view itself, so every consumer of tensor_like takes the
/// library's own views too.
template <element T>
struct tensor_adapter<row_view<T>> {
    static strided_rows<T> rows(const row_view<T>& v) {
        validate_view(v, "row_view");
        return {v.data, v.rows, v.cols, v.row_stride, 1};
    }
};

/// Adapters for the descriptions themselves: a binding that builds a
/// strided_rows (or, element type known at run time, an any_strided_rows)
/// from a foreign buffer hands it to any consumer of tensor_like.
template <element T>
struct tensor_adapter<strided_rows<T>> {
    static strided_rows<T> rows(const strided_rows<T>& r) { return r; }
};
template <>
struct tensor_adapter<any_strided_rows> {
    static any_strided_rows rows(const any_strided_rows& r) { return r; }
};

namespace detail {

/// a * b, or a shape_error naming `what` when it overflows index_t.
inline index_t checked_mul(index_t a, index_t b, std::string_view what) {
    index_t r = 0;
    if (__builtin_mul_overflow(a, b, &r)) {
        throw shape_error(std::string(what) + ": shape or strides overflow a 64-bit element index");
    }
    return r;
}

inline std::string format_dims(std::span<const index_t> v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
}

/// Row-major compact strides (in elements) of a shape.
inline std::vector<index_t> compact_strides(std::span<const index_t> shape) {
    std::vector<index_t> s(shape.size(), 1);
    for (std::size_t i = shape.size(); i-- > 1;) s[i - 1] = s[i] * std::max<index_t>(shape[i], 1);
    return s;
}

/// Maps an N-d tensor (N >= 2; the last dimension is the hidden size) to
/// strided rows: every leading dimension becomes the token index, which
/// needs them to be mergeable into one stride (size-1 dimensions, such as a
/// batch of one, always are). `what` names the tensor in errors.
template <element T>
strided_rows<T> rows_from_shape(const T* data, std::span<const index_t> shape, std::span<const index_t> strides,
                                std::string_view what) {
    if (shape.size() != strides.size()) {
        throw shape_error(std::string(what) + ": " + std::to_string(shape.size()) + " dimensions but " +
                          std::to_string(strides.size()) + " strides");
    }
    if (shape.size() < 2) {
        throw shape_error(std::string(what) + " has shape " + format_dims(shape) +
                          "; expected at least 2 dimensions: [tokens, hidden size] (leading batch dimensions allowed)");
    }
    for (index_t n : shape) {
        if (n < 0) throw shape_error(std::string(what) + " has a negative dimension: shape " + format_dims(shape));
    }
    strided_rows<T> r;
    r.data = data;
    r.cols = shape.back();
    r.col_stride = strides.back();
    r.rows = 1;
    for (std::size_t i = 0; i + 1 < shape.size(); ++i) r.rows = checked_mul(r.rows, shape[i], what);
    if (r.rows == 0) {
        r.row_stride = r.cols;
        return r;
    }
    // Every element offset must fit index_t (a corrupt shape or stride would
    // otherwise wrap around into an out-of-bounds read).
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] > 0) (void)checked_mul(shape[i] - 1, strides[i], what);
    }
    (void)checked_mul(r.rows, r.cols, what);
    // Walk the leading dimensions outer to inner: each one must step exactly
    // over the next (stride[outer] == stride[inner] * size[inner]).
    bool have_prev = false;
    index_t prev_stride = 0;
    for (std::size_t i = 0; i + 1 < shape.size(); ++i) {
        if (shape[i] == 1) continue;
        if (have_prev && prev_stride != checked_mul(strides[i], shape[i], what)) {
            throw shape_error(std::string(what) + " has shape " + format_dims(shape) + " and strides " +
                              format_dims(strides) +
                              " (elements): its leading dimensions cannot be merged into one token index; make it "
                              "contiguous first, or pass one [tokens, hidden size] slice at a time");
        }
        have_prev = true;
        prev_stride = strides[i];
    }
    r.row_stride = have_prev ? prev_stride : r.cols;
    if (r.rows > 0 && r.cols > 0 && data == nullptr) {
        throw shape_error(std::string(what) + ": null data pointer for a non-empty tensor of shape " +
                          format_dims(shape));
    }
    return r;
}

}  // namespace detail
}  // namespace mir
