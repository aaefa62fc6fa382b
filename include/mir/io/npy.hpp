// mir/io/npy.hpp — a careful reader of numpy's .npy format.
//
// Layout: the magic "\x93NUMPY", the format version (major, minor byte),
// the header length (2 bytes little-endian in version 1.0, 4 bytes in 2.0
// and 3.0), the header, then the data. The header is a Python dict literal
// such as {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
// padded with spaces and a newline; version 3.0 headers are UTF-8, older
// ones Latin-1.
//
// This is a small parser of exactly that dict (not of Python): keys descr,
// fortran_order and shape, each exactly once; strings in single or double
// quotes without escapes; True/False; a tuple of non-negative decimal
// integers (a Python-2 'L' suffix is accepted). The header may be at most
// 1 MiB (npy_max_header_size; numpy itself refuses more than 10,000 bytes
// unless told otherwise). descr must be one of
//   '<f2' '<f4' '<f8' '>f2' '>f4' '>f8' ('=' counts as '<')  -> F16/F32/F64
//   '|b1' (any byte order mark)                              -> BOOL
//   '|u1' (any byte order mark)                              -> U8
// everything else (integers, complex, structured, object, bfloat16 as
// '<V2') is an "unsupported dtype" error. The data must be exactly
// shape product x itemsize bytes: trailing bytes and truncation are errors.
// Big-endian data are byte-swapped and Fortran-ordered arrays transposed,
// so npy_array always holds little-endian C-order data.
//
// Errors throw mir::file_error: "<what>: invalid npy file: <rule>".
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mir/error.hpp"
#include "mir/io/mapped_file.hpp"
#include "mir/io/tensor.hpp"

namespace mir::io {

/// Largest .npy header accepted (bytes).
inline constexpr std::size_t npy_max_header_size = std::size_t{1} << 20;

/// An array read from .npy: owned, little-endian, C order.
struct npy_array {
    file_dtype dtype = file_dtype::f32;
    std::vector<std::int64_t> shape;
    std::vector<std::byte> data;

    [[nodiscard]] std::int64_t numel() const {
        auto n = detail::checked_numel(shape);
        if (!n) throw shape_error("npy_array: shape " + detail::shape_string(shape) + " is invalid");
        return *n;
    }
    /// A view of this array (valid while the array lives and is unchanged).
    [[nodiscard]] tensor_view view(std::string name) const {
        tensor_view t;
        t.name = std::move(name);
        t.dtype = dtype;
        t.shape = shape;
        t.data = data.data();
        t.nbytes = data.size();
        return t;
    }
};

namespace detail {

/// What the .npy header says.
struct npy_header {
    int major = 0, minor = 0;
    file_dtype dtype = file_dtype::f32;
    bool big_endian = false;
    bool fortran_order = false;
    std::vector<std::int64_t> shape;
    std::size_t data_offset = 0;  // where the data begin in the file
    std::size_t nbytes = 0;       // shape product x itemsize
};

[[noreturn]] inline void npy_fail(std::string_view what, const std::string& rule) {
    throw file_error(std::string(what) + ": invalid npy file: " + rule);
}

/// Parser of the header dict literal.
class npy_dict_parser {
public:
    npy_dict_parser(std::string_view text, std::string_view what) : s_(text), what_(what) {}

    void parse(npy_header& h) {
        ws();
        if (!eat('{')) fail("the header is not a Python dict literal (it must begin with '{')");
        bool have_descr = false, have_fortran = false, have_shape = false;
        ws();
        while (!eat('}')) {
            const std::size_t key_at = i_;
            const std::string key = string_literal("a key");
            ws();
            if (!eat(':')) fail("expected ':' after the key '" + printable(key) + "'");
            ws();
            auto once = [&](bool& seen) {
                if (seen) fail("duplicate key '" + key + "' in the header");
                seen = true;
            };
            if (key == "descr") {
                once(have_descr);
                descr(h);
            } else if (key == "fortran_order") {
                once(have_fortran);
                h.fortran_order = boolean();
            } else if (key == "shape") {
                once(have_shape);
                h.shape = shape();
            } else {
                i_ = key_at;
                fail("unexpected key '" + printable(key) +
                     "' in the header (expected exactly descr, fortran_order, shape)");
            }
            ws();
            if (eat(',')) {
                ws();
                continue;
            }
            ws();
            if (!eat('}')) fail("expected ',' or '}' in the header dict");
            break;
        }
        ws();
        if (i_ != s_.size()) fail("unexpected text after the header dict");
        if (!have_descr) fail("the header has no 'descr' key (expected exactly descr, fortran_order, shape)");
        if (!have_fortran) fail("the header has no 'fortran_order' key (expected exactly descr, fortran_order, shape)");
        if (!have_shape) fail("the header has no 'shape' key (expected exactly descr, fortran_order, shape)");
    }

private:
    [[noreturn]] void fail(const std::string& rule) const {
        npy_fail(what_, rule + " (header offset " + std::to_string(i_) + ")");
    }
    [[nodiscard]] bool at_end() const noexcept { return i_ >= s_.size(); }
    [[nodiscard]] char peek() const noexcept { return at_end() ? '\0' : s_[i_]; }
    bool eat(char c) noexcept {
        if (!at_end() && s_[i_] == c) {
            ++i_;
            return true;
        }
        return false;
    }
    void ws() noexcept {
        while (!at_end() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r' ||
                             s_[i_] == '\f' || s_[i_] == '\v')) {
            ++i_;
        }
    }
    std::string string_literal(const char* role) {
        const char q = peek();
        if (q != '\'' && q != '"') fail(std::string("expected ") + role + " (a quoted string)");
        ++i_;
        const std::size_t begin = i_;
        while (!at_end() && s_[i_] != q) {
            if (s_[i_] == '\\') fail("escape sequences in header strings are not supported");
            if (s_[i_] == '\n') fail("unterminated string in the header");
            ++i_;
        }
        if (at_end()) fail("unterminated string in the header");
        std::string out(s_.substr(begin, i_ - begin));
        ++i_;
        return out;
    }
    bool boolean() {
        if (s_.substr(i_, 4) == "True") {
            i_ += 4;
            return true;
        }
        if (s_.substr(i_, 5) == "False") {
            i_ += 5;
            return false;
        }
        fail("fortran_order is not True or False");
    }
    std::int64_t integer() {
        if (peek() == '-') fail("negative dimension in shape");
        if (peek() < '0' || peek() > '9') fail("shape holds something other than non-negative integers");
        if (peek() == '0' && i_ + 1 < s_.size() && s_[i_ + 1] >= '0' && s_[i_ + 1] <= '9') {
            fail("shape holds an integer with a leading zero");
        }
        std::uint64_t v = 0;
        while (!at_end() && s_[i_] >= '0' && s_[i_] <= '9') {
            const auto digit = static_cast<std::uint64_t>(s_[i_] - '0');
            if (v > (static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) - digit) / 10) {
                fail("shape dimension is too large");
            }
            v = v * 10 + digit;
            ++i_;
        }
        if (peek() == 'L' || peek() == 'l') ++i_;  // Python 2 long
        if (std::isalnum(static_cast<unsigned char>(peek())) || peek() == '_' || peek() == '.') {
            fail("shape holds something other than non-negative integers");
        }
        return static_cast<std::int64_t>(v);
    }
    std::vector<std::int64_t> shape() {
        if (!eat('(')) fail("shape is not a tuple");
        std::vector<std::int64_t> dims;
        ws();
        if (eat(')')) return dims;
        bool comma = false;
        for (;;) {
            dims.push_back(integer());
            if (dims.size() > 64) fail("shape has more than 64 dimensions");
            ws();
            comma = eat(',');
            ws();
            if (eat(')')) break;
            if (!comma) fail("expected ',' or ')' in shape");
        }
        if (dims.size() == 1 && !comma) {
            fail("shape (" + std::to_string(dims[0]) + ") is not a tuple (a 1-tuple is written (" +
                 std::to_string(dims[0]) + ",))");
        }
        return dims;
    }
    void descr(npy_header& h) {
        if (peek() == '[') fail("unsupported dtype: descr is a list (a structured dtype)");
        const std::size_t at = i_;
        const std::string d = string_literal("descr");
        auto unsupported = [&] {
            i_ = at;
            fail("unsupported dtype '" + printable(d) + "' (supported: '<f2' '<f4' '<f8' '>f2' '>f4' '>f8' '|b1' '|u1')");
        };
        if (d.size() != 3) unsupported();
        const char order = d[0], kind = d[1], size = d[2];
        if (order != '<' && order != '>' && order != '|' && order != '=') unsupported();
        if (kind == 'f') {
            if (size == '2') h.dtype = file_dtype::f16;
            else if (size == '4') h.dtype = file_dtype::f32;
            else if (size == '8') h.dtype = file_dtype::f64;
            else unsupported();
            if (order == '|') {
                i_ = at;
                fail("descr '" + d + "' has no byte order ('|' is only for one-byte types)");
            }
            h.big_endian = order == '>';
        } else if (kind == 'b' && size == '1') {
            h.dtype = file_dtype::boolean;
        } else if (kind == 'u' && size == '1') {
            h.dtype = file_dtype::u8;
        } else {
            unsupported();
        }
    }

    std::string_view s_;
    std::string_view what_;
    std::size_t i_ = 0;
};

/// The length of the prefix parse_npy_header needs: at least 12 bytes are
/// read first; then this says how many (0 if the prefix is already
/// enough or too broken to tell; parse_npy_header then names the rule).
inline std::uint64_t npy_prefix_size(std::span<const std::byte> first) noexcept {
    if (first.size() < 10) return 0;
    const int major = std::to_integer<int>(first[6]);
    const std::size_t len_bytes = major == 1 ? 2 : 4;
    if (first.size() < 8 + len_bytes) return 0;
    std::uint64_t hlen = 0;
    for (std::size_t k = len_bytes; k-- > 0;) hlen = (hlen << 8) | std::to_integer<std::uint64_t>(first[8 + k]);
    return hlen > npy_max_header_size ? 0 : 8 + len_bytes + hlen;
}

/// Parses the header of a .npy image of `total` bytes (default: all of
/// `bytes`) from its first bytes: `bytes` must hold the whole header when
/// the image does (see npy_prefix_size).
inline npy_header parse_npy_header(std::span<const std::byte> bytes, std::string_view what,
                                   std::optional<std::uint64_t> total = std::nullopt) {
    static constexpr unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    const std::uint64_t size = total.value_or(bytes.size());
    if (size < 6 || std::memcmp(bytes.data(), magic, 6) != 0) {
        npy_fail(what, "the file does not begin with the magic string \\x93NUMPY");
    }
    if (size < 8) npy_fail(what, "the file ends before the format version");
    npy_header h;
    h.major = std::to_integer<int>(bytes[6]);
    h.minor = std::to_integer<int>(bytes[7]);
    if (!((h.major == 1 || h.major == 2 || h.major == 3) && h.minor == 0)) {
        npy_fail(what, "unsupported format version " + std::to_string(h.major) + "." + std::to_string(h.minor) +
                           " (supported: 1.0, 2.0, 3.0)");
    }
    const std::size_t len_bytes = h.major == 1 ? 2 : 4;
    if (size < 8 + len_bytes) npy_fail(what, "the file ends before the header length");
    std::uint64_t hlen = 0;
    for (std::size_t k = len_bytes; k-- > 0;) hlen = (hlen << 8) | std::to_integer<std::uint64_t>(bytes[8 + k]);
    if (hlen > npy_max_header_size) {
        npy_fail(what, "header length " + std::to_string(hlen) + " exceeds this reader's limit of " +
                           std::to_string(npy_max_header_size) + " bytes");
    }
    const std::size_t begin = 8 + len_bytes;
    if (hlen > size - begin) {
        npy_fail(what, "header length " + std::to_string(hlen) + " runs past the end of the file (" +
                           std::to_string(size) + " bytes)");
    }
    if (hlen > bytes.size() - begin) npy_fail(what, "the header was not read whole");  // a caller's bug
    const std::string_view text(reinterpret_cast<const char*>(bytes.data()) + begin, static_cast<std::size_t>(hlen));
    if (h.major == 3) {
        if (auto at = invalid_utf8_at(text)) {
            npy_fail(what, "the version 3.0 header is not valid UTF-8 (byte " + std::to_string(*at) + ")");
        }
    }
    npy_dict_parser(text, what).parse(h);
    h.data_offset = begin + static_cast<std::size_t>(hlen);

    auto numel = checked_numel(h.shape);
    std::uint64_t need = 0;
    if (!numel || !checked_mul(static_cast<std::uint64_t>(*numel), size_of(h.dtype), need)) {
        npy_fail(what, "the byte size of shape " + shape_string(h.shape) + " overflows");
    }
    const std::uint64_t have = size - h.data_offset;
    if (have != need) {
        npy_fail(what, "the data are " + std::to_string(have) + " bytes, but shape " + shape_string(h.shape) +
                           " x " + std::to_string(size_of(h.dtype)) + "-byte elements needs " + std::to_string(need) +
                           (have < need ? ": the file is truncated" : ": trailing bytes after the data"));
    }
    h.nbytes = static_cast<std::size_t>(need);
    return h;
}

/// Copies `src` (Fortran order) into `dst` (C order).
inline void fortran_to_c(const std::byte* src, std::byte* dst, const std::vector<std::int64_t>& shape,
                         std::size_t itemsize) {
    const std::size_t nd = shape.size();
    std::int64_t numel = 1;
    for (auto d : shape) numel *= d;
    if (numel == 0) return;
    std::vector<std::int64_t> fstride(nd), idx(nd, 0);
    std::int64_t s = 1;
    for (std::size_t k = 0; k < nd; ++k) {
        fstride[k] = s;
        s *= shape[k];
    }
    std::int64_t off = 0;
    for (std::int64_t i = 0; i < numel; ++i) {
        std::memcpy(dst + static_cast<std::size_t>(i) * itemsize, src + static_cast<std::size_t>(off) * itemsize,
                    itemsize);
        for (std::size_t k = nd; k-- > 0;) {
            if (++idx[k] < shape[k]) {
                off += fstride[k];
                break;
            }
            off -= (shape[k] - 1) * fstride[k];
            idx[k] = 0;
        }
    }
}

inline void byteswap_elements(std::byte* p, std::size_t nbytes, std::size_t itemsize) noexcept {
    if (itemsize <= 1) return;
    for (std::size_t i = 0; i + itemsize <= nbytes; i += itemsize) std::reverse(p + i, p + i + itemsize);
}

/// Builds the array from the validated header; reuses `buffer` (which
/// holds the whole file) when given.
inline npy_array make_npy_array(npy_header&& h, std::span<const std::byte> bytes, std::vector<std::byte>* buffer) {
    npy_array a;
    a.dtype = h.dtype;
    const std::size_t itemsize = size_of(h.dtype);
    const std::byte* src = bytes.data() + h.data_offset;
    const bool transpose = h.fortran_order && h.shape.size() > 1;
    if (transpose) {
        a.data.resize(h.nbytes);
        fortran_to_c(src, a.data.data(), h.shape, itemsize);
    } else if (buffer != nullptr) {
        if (h.nbytes > 0) std::memmove(buffer->data(), src, h.nbytes);
        buffer->resize(h.nbytes);
        a.data = std::move(*buffer);
    } else {
        a.data.assign(src, src + h.nbytes);
    }
    if (h.big_endian) byteswap_elements(a.data.data(), a.data.size(), itemsize);
    a.shape = std::move(h.shape);
    return a;
}

}  // namespace detail

/// Parses a whole .npy image. `what` names it in messages ("a.npy",
/// "b.npz:hidden_states.npy").
inline npy_array parse_npy(std::span<const std::byte> bytes, std::string_view what) {
    auto h = detail::parse_npy_header(bytes, what);
    return detail::make_npy_array(std::move(h), bytes, nullptr);
}

/// Same, reusing the buffer for the data when no transpose is needed.
inline npy_array parse_npy(std::vector<std::byte>&& bytes, std::string_view what) {
    auto h = detail::parse_npy_header(bytes, what);
    return detail::make_npy_array(std::move(h), bytes, &bytes);
}

/// Reads a .npy file (mapped, copied out, unmapped).
inline npy_array read_npy(const std::filesystem::path& path) {
    auto f = mapped_file::open(path);
    return parse_npy(f.bytes(), path.string());
}

}  // namespace mir::io
