// mir/io/tensor.hpp — element types of tensors in files, a view of one
// tensor, and visit_rows (typed row access for the statistics).
//
// Part of the opt-in io/ headers (target mir::io). Every reader produces
// tensor_views whose data are little-endian and in C (row-major) order;
// readers convert other layouts (big-endian or Fortran-ordered .npy) into
// owned buffers first.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"

namespace mir::io {

static_assert(std::endian::native == std::endian::little,
              "mir::io views little-endian file data in place; big-endian hosts are not supported");

/// Element types a dump file may hold. BOOL and U8 only serve as masks.
enum class file_dtype : std::uint8_t { f16, bf16, f32, f64, boolean, u8, u32, u64 };

/// The safetensors spelling: "F16", "BF16", "F32", "F64", "BOOL", "U8", "U32", "U64"
/// (the last two only in mir's own state files: mir/source/saved_state.hpp).
constexpr std::string_view to_string(file_dtype t) noexcept {
    switch (t) {
        case file_dtype::f16: return "F16";
        case file_dtype::bf16: return "BF16";
        case file_dtype::f32: return "F32";
        case file_dtype::f64: return "F64";
        case file_dtype::boolean: return "BOOL";
        case file_dtype::u8: return "U8";
        case file_dtype::u32: return "U32";
        case file_dtype::u64: return "U64";
    }
    return "?";
}

/// Bytes per element.
constexpr std::size_t size_of(file_dtype t) noexcept {
    switch (t) {
        case file_dtype::f16:
        case file_dtype::bf16: return 2;
        case file_dtype::f32: return 4;
        case file_dtype::f64: return 8;
        case file_dtype::boolean:
        case file_dtype::u8: return 1;
        case file_dtype::u32: return 4;
        case file_dtype::u64: return 8;
    }
    return 0;
}

/// Inverse of to_string (exact, case-sensitive); nullopt for anything else.
constexpr std::optional<file_dtype> parse_file_dtype(std::string_view s) noexcept {
    for (auto t : {file_dtype::f16, file_dtype::bf16, file_dtype::f32, file_dtype::f64, file_dtype::boolean,
                   file_dtype::u8, file_dtype::u32, file_dtype::u64}) {
        if (to_string(t) == s) return t;
    }
    return std::nullopt;
}

/// True for the floating-point types visit_rows accepts.
constexpr bool is_floating(file_dtype t) noexcept {
    return t == file_dtype::f16 || t == file_dtype::bf16 || t == file_dtype::f32 ||
           t == file_dtype::f64;
}

/// The core library's element tag for a floating file dtype.
constexpr std::optional<mir::dtype> to_element_dtype(file_dtype t) noexcept {
    switch (t) {
        case file_dtype::f16: return mir::dtype::f16;
        case file_dtype::bf16: return mir::dtype::bf16;
        case file_dtype::f32: return mir::dtype::f32;
        case file_dtype::f64: return mir::dtype::f64;
        default: return std::nullopt;
    }
}

/// The file dtype of a core element type.
template <element T>
inline constexpr file_dtype file_dtype_of = std::same_as<T, float>    ? file_dtype::f32
                                            : std::same_as<T, double> ? file_dtype::f64
                                            : std::same_as<T, half>   ? file_dtype::f16
                                                                      : file_dtype::bf16;

namespace detail {

/// How many times a file's table was read (a safetensors header parsed, an
/// npz directory read): a debug counter, so tests can check that a run
/// reads each file's table once however many passes it makes.
inline std::atomic<std::uint64_t>& table_reads() noexcept {
    static std::atomic<std::uint64_t> n{0};
    return n;
}

/// a * b, or false on overflow of uint64.
constexpr bool checked_mul(std::uint64_t a, std::uint64_t b, std::uint64_t& out) noexcept {
    if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return false;
    out = a * b;
    return true;
}

/// Product of the dimensions, multiplied in order with overflow checks
/// against INT64_MAX (as the safetensors reference does, in order). nullopt
/// on a negative dimension or overflow.
inline std::optional<std::int64_t> checked_numel(const std::vector<std::int64_t>& shape) noexcept {
    std::uint64_t n = 1;
    for (auto d : shape) {
        if (d < 0) return std::nullopt;
        if (!checked_mul(n, static_cast<std::uint64_t>(d), n)) return std::nullopt;
        if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
    }
    return static_cast<std::int64_t>(n);
}

/// "[5, 63, 64]".
inline std::string shape_string(const std::vector<std::int64_t>& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

/// A name from a file, safe to print: control and non-ASCII bytes become
/// \xNN, and long names are cut at `max` characters.
inline std::string printable(std::string_view s, std::size_t max = 80) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (out.size() >= max) {
            out += "...";
            break;
        }
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

/// Offset of the first byte that is not well-formed UTF-8 (no overlongs,
/// no surrogates, nothing above U+10FFFF), or nullopt if all of it is.
inline std::optional<std::size_t> invalid_utf8_at(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t n = s.size();
    std::size_t i = 0;
    while (i < n) {
        const unsigned c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return i;
        }
        if (n - i < len) return i;
        if (p[i + 1] < lo || p[i + 1] > hi) return i;
        for (std::size_t k = 2; k < len; ++k) {
            if (p[i + k] < 0x80 || p[i + k] > 0xBF) return i;
        }
        i += len;
    }
    return std::nullopt;
}

}  // namespace detail

/// One tensor of a file: its bytes are little-endian, in C order. The data
/// belong to the reader object that produced the view (a mapped file or an
/// npy_array) and live as long as it does.
struct tensor_view {
    std::string name;
    file_dtype dtype = file_dtype::f32;
    std::vector<std::int64_t> shape;
    const std::byte* data = nullptr;
    std::size_t nbytes = 0;
    /// Where the tensor came from, for messages ("a.safetensors",
    /// "b.npz"); may be empty.
    std::string file;

    /// Product of the shape (1 for a scalar). Throws mir::shape_error on a
    /// negative dimension or overflow (readers never produce either).
    [[nodiscard]] std::int64_t numel() const {
        auto n = detail::checked_numel(shape);
        if (!n) throw shape_error(describe() + ": shape " + detail::shape_string(shape) + " is invalid");
        return *n;
    }
    /// Columns of the 2-D [outer, cols] view: the last dimension (1 for a scalar).
    [[nodiscard]] std::int64_t cols() const noexcept { return shape.empty() ? 1 : shape.back(); }
    /// Rows of the 2-D view: the product of all dimensions but the last.
    [[nodiscard]] std::int64_t outer() const {
        if (shape.size() <= 1) return 1;
        auto n = detail::checked_numel(std::vector<std::int64_t>(shape.begin(), shape.end() - 1));
        if (!n) throw shape_error(describe() + ": shape " + detail::shape_string(shape) + " is invalid");
        return *n;
    }
    /// "file: tensor 'name'" (or "tensor 'name'" without a file).
    [[nodiscard]] std::string describe() const {
        std::string s = file.empty() ? std::string() : file + ": ";
        return s + "tensor '" + detail::printable(name) + "'";
    }
};

namespace detail {

template <element T, class Fn>
decltype(auto) visit_rows_as(const tensor_view& t, std::int64_t first_row, std::int64_t rows, Fn&& fn,
                             std::string_view what) {
    auto who = [&] { return what.empty() ? t.describe() : std::string(what); };
    const std::int64_t numel = t.numel();
    const std::int64_t cols = t.cols();
    const std::int64_t outer = t.outer();
    std::uint64_t need = 0;
    if (!checked_mul(static_cast<std::uint64_t>(numel), sizeof(T), need) || need != t.nbytes) {
        throw file_error(who() + ": holds " + std::to_string(t.nbytes) + " bytes, but " +
                         std::string(to_string(t.dtype)) + " x " + shape_string(t.shape) + " needs " +
                         std::to_string(static_cast<std::uint64_t>(numel)) + " x " + std::to_string(sizeof(T)));
    }
    if (t.data == nullptr && t.nbytes != 0) {
        throw file_error(who() + ": no data (the file was closed)");
    }
    if (first_row < 0 || rows < 0 || first_row > outer || rows > outer - first_row) {
        throw shape_error(who() + ": " + std::to_string(rows) + " rows from row " + std::to_string(first_row) +
                          " are outside its " + std::to_string(outer) + " rows");
    }
    const std::byte* begin = t.data == nullptr ? nullptr : t.data + first_row * cols * sizeof(T);
    const auto addr = reinterpret_cast<std::uintptr_t>(begin);
    if (addr % alignof(T) == 0) {
        return std::forward<Fn>(fn)(row_view<T>(reinterpret_cast<const T*>(begin), rows, cols, cols));
    }
    // Not aligned for T (a foreign file with an odd header length or
    // offsets): copy the rows into an aligned buffer.
    std::vector<T> copy(static_cast<std::size_t>(rows * cols));
    if (!copy.empty()) std::memcpy(copy.data(), begin, copy.size() * sizeof(T));
    return std::forward<Fn>(fn)(row_view<T>(copy.data(), rows, cols, cols));
}

}  // namespace detail

/// Calls fn(mir::row_view<T>) with T = mir::half, mir::bfloat16, float or
/// double (from t.dtype) for rows [first_row, first_row + rows) of `t`
/// viewed as a 2-D [outer, cols] matrix (cols = the last dimension, outer =
/// the product of the others), and returns what fn returns. The view points
/// into t.data when it is aligned for T, otherwise into a temporary aligned
/// copy of those rows that lives until fn returns.
///
/// Throws mir::file_error (naming `what`, or t.describe() when `what` is
/// empty) for BOOL/U8 tensors and for byte counts that do not match the
/// shape, and mir::shape_error for rows outside the tensor.
template <class Fn>
decltype(auto) visit_rows(const tensor_view& t, std::int64_t first_row, std::int64_t rows, Fn&& fn,
                          std::string_view what = {}) {
    switch (t.dtype) {
        case file_dtype::f16: return detail::visit_rows_as<half>(t, first_row, rows, std::forward<Fn>(fn), what);
        case file_dtype::bf16: return detail::visit_rows_as<bfloat16>(t, first_row, rows, std::forward<Fn>(fn), what);
        case file_dtype::f32: return detail::visit_rows_as<float>(t, first_row, rows, std::forward<Fn>(fn), what);
        case file_dtype::f64: return detail::visit_rows_as<double>(t, first_row, rows, std::forward<Fn>(fn), what);
        case file_dtype::boolean:
        case file_dtype::u8:
        case file_dtype::u32:
        case file_dtype::u64: break;
    }
    throw file_error((what.empty() ? t.describe() : std::string(what)) + ": dtype " +
                     std::string(to_string(t.dtype)) +
                     " holds no hidden states (expected F16, BF16, F32 or F64)");
}

/// All rows of `t` (see visit_rows).
template <class Fn>
decltype(auto) visit_all_rows(const tensor_view& t, Fn&& fn, std::string_view what = {}) {
    return visit_rows(t, 0, t.outer(), std::forward<Fn>(fn), what);
}

}  // namespace mir::io
