// .npy reader: versions, byte orders, Fortran order, every header rule.
#include <catch2/catch.hpp>

#include <mir/io/npy.hpp>

#include "support/io_support.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace mio = mir::io;
using namespace mir_test::io;

namespace {

/// A v1.0 (or v2.0/v3.0) image with the given header text and data bytes.
std::vector<std::byte> npy_image(std::string_view header, std::string_view data = {}, int major = 1) {
    std::vector<std::byte> v = bytes_of("\x93NUMPY");
    v.push_back(static_cast<std::byte>(major));
    v.push_back(std::byte{0});
    const std::uint32_t n = static_cast<std::uint32_t>(header.size());
    const int len_bytes = major == 1 ? 2 : 4;
    for (int i = 0; i < len_bytes; ++i) v.push_back(static_cast<std::byte>((n >> (8 * i)) & 0xff));
    append(v, header);
    append(v, data);
    return v;
}

std::string hdr(std::string_view descr, std::string_view fortran, std::string_view shape) {
    return "{'descr': " + std::string(descr) + ", 'fortran_order': " + std::string(fortran) +
           ", 'shape': " + std::string(shape) + ", }\n";
}

/// Writes `bytes` as <name>, reads it, checks file_error naming the file and the phrases.
void expect_invalid(const std::vector<std::byte>& bytes, const std::string& name,
                    const std::vector<std::string>& phrases) {
    expect_file_error([](const fs::path& p) { return mio::read_npy(p); }, bytes, name, "invalid npy file", phrases);
    CHECK_THROWS_WITH(mio::parse_npy(bytes, "archive.npz:" + name), Catch::Contains("archive.npz:" + name));
}

void check_fixture(const std::string& rel, mio::file_dtype dt, std::vector<std::int64_t> shape) {
    INFO(rel);
    const auto a = mio::read_npy(io_data(rel));
    CHECK(a.dtype == dt);
    CHECK(a.shape == shape);
    const auto v = a.view(rel);
    if (mio::is_floating(dt)) {
        check_float_values(v);
    } else {
        const auto u = to_u8(v);
        for (std::size_t i = 0; i < u.size(); ++i) {
            CHECK(u[i] == (dt == mio::file_dtype::boolean ? bool_value(static_cast<std::int64_t>(i))
                                                          : u8_value(static_cast<std::int64_t>(i))));
        }
    }
}

}  // namespace

TEST_CASE("npy: format versions 1.0 2.0 and 3.0", "[io][npy]") {
    for (const char* f : {"npy/f32_v1.npy", "npy/f32_v2.npy", "npy/f32_v3.npy"}) {
        check_fixture(f, mio::file_dtype::f32, {2, 3, 4});
    }
    const auto v1 = mio::read_npy(io_data("npy/f32_v1.npy"));
    CHECK(v1.data == mio::read_npy(io_data("npy/f32_v3.npy")).data);
}

TEST_CASE("npy: little- and big-endian floats bools and bytes", "[io][npy]") {
    check_fixture("npy/f16_le.npy", mio::file_dtype::f16, {2, 3, 4});
    check_fixture("npy/f64_le.npy", mio::file_dtype::f64, {2, 3, 4});
    check_fixture("npy/f16_be.npy", mio::file_dtype::f16, {2, 3, 4});
    check_fixture("npy/f32_be.npy", mio::file_dtype::f32, {2, 3, 4});
    check_fixture("npy/f64_be.npy", mio::file_dtype::f64, {2, 3, 4});
    check_fixture("npy/bool.npy", mio::file_dtype::boolean, {2, 3, 4});
    check_fixture("npy/u8.npy", mio::file_dtype::u8, {2, 3, 4});
    // Byte-swapped into the same little-endian bytes.
    CHECK(mio::read_npy(io_data("npy/f64_be.npy")).data == mio::read_npy(io_data("npy/f64_le.npy")).data);
}

TEST_CASE("npy: Fortran order is transposed to C order", "[io][npy]") {
    check_fixture("npy/f64_fortran.npy", mio::file_dtype::f64, {2, 3, 4});
    check_fixture("npy/f32_fortran_be.npy", mio::file_dtype::f32, {2, 3, 4});
    check_fixture("npy/f16_fortran_2d.npy", mio::file_dtype::f16, {5, 7});
    // Fortran order of a 1-D array is the C order.
    auto a = mio::parse_npy(npy_image(hdr("'<u1'", "True", "(3,)"), "\x01\x02\x03"), "f.npy");
    CHECK(to_u8(a.view("f")) == std::vector<std::uint8_t>{1, 2, 3});
    // A hand-made 2x3 Fortran array: memory 1 4 2 5 3 6 is [[1,2,3],[4,5,6]].
    auto b = mio::parse_npy(npy_image(hdr("'|u1'", "True", "(2, 3)"), "\x01\x04\x02\x05\x03\x06"), "f.npy");
    CHECK(to_u8(b.view("f")) == std::vector<std::uint8_t>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("npy: zero elements scalars and vectors", "[io][npy]") {
    auto e = mio::read_npy(io_data("npy/empty.npy"));
    CHECK(e.shape == std::vector<std::int64_t>{0, 5});
    CHECK(e.data.empty());
    CHECK(to_doubles(e.view("e")).empty());
    auto s = mio::read_npy(io_data("npy/scalar.npy"));
    CHECK(s.shape.empty());
    CHECK(to_doubles(s.view("s")) == std::vector<double>{2.5});
    check_fixture("npy/vector.npy", mio::file_dtype::f32, {6});
    auto v = mio::read_npy(io_data("npy/vector.npy"));
    mio::visit_all_rows(v.view("v"), [](auto rows) {
        CHECK(rows.rows == 1);
        CHECK(rows.cols == 6);
    });
}

TEST_CASE("npy: unsupported dtypes", "[io][npy]") {
    CHECK_THROWS_WITH(mio::read_npy(io_data("npy/i32.npy")),
                      Catch::Contains("i32.npy") && Catch::Contains("unsupported dtype '<i4'"));
    CHECK_THROWS_WITH(mio::read_npy(io_data("npy/structured.npy")),
                      Catch::Contains("structured.npy") && Catch::Contains("unsupported dtype: descr is a list"));
    for (const char* d : {"'<c8'", "'<V2'", "'|O'", "'<i8'", "'<u2'", "'<f16'", "'f4'", "'<f'", "'<e'", "''"}) {
        expect_invalid(npy_image(hdr(d, "False", "()")), "dtype.npy", {"unsupported dtype"});
    }
    expect_invalid(npy_image(hdr("'|f4'", "False", "()"), "abcd"), "order.npy",
                   {"descr '|f4' has no byte order"});
    // '=' is the native (little-endian) order; '>' and '|' are fine for one byte.
    CHECK(mio::parse_npy(npy_image(hdr("'=f4'", "False", "()"), std::string_view("\0\0\x80\x3f", 4)), "n").dtype == mio::file_dtype::f32);
    CHECK(mio::parse_npy(npy_image(hdr("'>u1'", "False", "(1,)"), "\x07"), "n").dtype == mio::file_dtype::u8);
    CHECK(mio::parse_npy(npy_image(hdr("\"<b1\"", "False", "(1,)"), "\x01"), "n").dtype == mio::file_dtype::boolean);
}

TEST_CASE("npy: magic version and header length", "[io][npy]") {
    expect_invalid(bytes_of("NUMPY\x01\x00"), "magic.npy", {"does not begin with the magic string"});
    expect_invalid({}, "empty.npy", {"does not begin with the magic string"});
    expect_invalid(bytes_of("\x93NUMPY\x01"), "version_cut.npy", {"ends before the format version"});
    auto v4 = npy_image(hdr("'<f4'", "False", "()"), "abcd");
    v4[6] = std::byte{4};
    expect_invalid(v4, "v4.npy", {"unsupported format version 4.0 (supported: 1.0, 2.0, 3.0)"});
    auto v11 = npy_image(hdr("'<f4'", "False", "()"), "abcd");
    v11[7] = std::byte{1};
    expect_invalid(v11, "v11.npy", {"unsupported format version 1.1"});
    expect_invalid(bytes_of(std::string_view("\x93NUMPY\x01\x00\x10", 9)), "len_cut.npy", {"ends before the header length"});
    expect_invalid(bytes_of(std::string_view("\x93NUMPY\x02\x00\x10\x00\x00", 11)), "len_cut2.npy",
                   {"ends before the header length"});
    // Header length beyond the file, and beyond the 1 MiB limit (v2 and v3).
    auto past = npy_image(hdr("'<f4'", "False", "()"));
    past[8] = std::byte{0xff};
    expect_invalid(past, "past.npy", {"runs past the end of the file"});
    auto big = npy_image("{}", "", 2);
    big[8] = std::byte{1};
    big[9] = std::byte{0};
    big[10] = std::byte{0x10};  // 0x100001 = 1 MiB + 1
    big[11] = std::byte{0};
    expect_invalid(big, "big_header.npy", {"header length 1048577 exceeds this reader's limit of 1048576 bytes"});
    auto huge = npy_image("{}", "", 3);
    huge[11] = std::byte{0xff};
    expect_invalid(huge, "huge_header.npy", {"exceeds this reader's limit"});
    // A 1 MiB header is accepted.
    std::string h = hdr("'<f4'", "False", "(0,)");
    h.pop_back();
    h.append(mio::npy_max_header_size - h.size() - 1, ' ');
    h += '\n';
    CHECK(mio::parse_npy(npy_image(h, "", 2), "ok").shape == std::vector<std::int64_t>{0});
}

TEST_CASE("npy: the header dict", "[io][npy]") {
    expect_invalid(npy_image("('descr', '<f4')"), "not_dict.npy", {"not a Python dict literal"});
    expect_invalid(npy_image("{'descr': '<f4', 'fortran_order': False}"), "no_shape.npy", {"has no 'shape' key"});
    expect_invalid(npy_image("{'descr': '<f4', 'shape': ()}"), "no_fortran.npy", {"has no 'fortran_order' key"});
    expect_invalid(npy_image("{'fortran_order': False, 'shape': ()}"), "no_descr.npy", {"has no 'descr' key"});
    expect_invalid(npy_image(hdr("'<f4'", "False", "()") .insert(1, "'extra': 1, ")), "extra_key.npy",
                   {"unexpected key 'extra' in the header (expected exactly descr, fortran_order, shape)"});
    expect_invalid(npy_image("{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': ()}", "abcd"), "dup.npy",
                   {"duplicate key 'descr'"});
    expect_invalid(npy_image("{'descr' '<f4'}"), "colon.npy", {"expected ':' after the key 'descr'"});
    expect_invalid(npy_image("{'descr': '<f4' 'fortran_order': False}"), "comma.npy", {"expected ',' or '}'"});
    expect_invalid(npy_image("{descr: '<f4'}"), "bare_key.npy", {"expected a key (a quoted string)"});
    expect_invalid(npy_image("{'descr': <f4}"), "bare_descr.npy", {"expected descr (a quoted string)"});
    expect_invalid(npy_image("{'descr': '<f4"), "unterminated.npy", {"unterminated string"});
    expect_invalid(npy_image("{'descr': '<\\x66\\x34', 'fortran_order': False, 'shape': ()}"), "escape.npy",
                   {"escape sequences in header strings are not supported"});
    expect_invalid(npy_image(hdr("'<f4'", "false", "()")), "fortran.npy", {"fortran_order is not True or False"});
    expect_invalid(npy_image(hdr("'<f4'", "1", "()")), "fortran1.npy", {"fortran_order is not True or False"});
    expect_invalid(npy_image(hdr("'<f4'", "False", "()") + "x"), "after.npy", {"unexpected text after the header dict"});
    expect_invalid(npy_image("{'descr': '<f4\xff', 'fortran_order': False, 'shape': ()}", "", 3), "v3_utf8.npy",
                   {"version 3.0 header is not valid UTF-8"});
    // Latin-1 (v1) bytes in a string are just an unknown descr.
    expect_invalid(npy_image("{'descr': '<f4\xff', 'fortran_order': False, 'shape': ()}"), "latin1.npy",
                   {"unsupported dtype '<f4\\xff'"});
    // Python-style variations numpy itself accepts.
    CHECK(mio::parse_npy(npy_image("{\"shape\":(2,),\"fortran_order\":False,\"descr\":\"|u1\"}", "ab"), "n").shape ==
          std::vector<std::int64_t>{2});
    CHECK(mio::parse_npy(npy_image("  {'descr': '|u1', 'fortran_order': False, 'shape': (2L, 1L)}\t\n", "ab"), "n").shape ==
          std::vector<std::int64_t>{2, 1});
    CHECK(mio::parse_npy(npy_image("{'descr':'|u1','fortran_order':False,'shape':( 2 , 1 , )}", "ab"), "n").shape ==
          std::vector<std::int64_t>{2, 1});
}

TEST_CASE("npy: shapes", "[io][npy]") {
    expect_invalid(npy_image(hdr("'|u1'", "False", "(5)"), "abcde"), "not_tuple.npy",
                   {"shape (5) is not a tuple (a 1-tuple is written (5,))"});
    expect_invalid(npy_image(hdr("'|u1'", "False", "[5]"), "abcde"), "list.npy", {"shape is not a tuple"});
    expect_invalid(npy_image(hdr("'|u1'", "False", "5"), "abcde"), "int.npy", {"shape is not a tuple"});
    expect_invalid(npy_image(hdr("'|u1'", "False", "(-5,)")), "negative.npy", {"negative dimension in shape"});
    expect_invalid(npy_image(hdr("'|u1'", "False", "(5.0,)")), "float.npy", {"shape holds something other than non-negative integers"});
    expect_invalid(npy_image(hdr("'|u1'", "False", "(0x5,)")), "hex.npy", {"shape holds something other than non-negative integers"});
    expect_invalid(npy_image(hdr("'|u1'", "False", "(1_0,)")), "underscore.npy", {"non-negative integers"});
    expect_invalid(npy_image(hdr("'|u1'", "False", "('5',)")), "string.npy", {"non-negative integers"});
    expect_invalid(npy_image(hdr("'|u1'", "False", "(05,)")), "leading_zero.npy", {"leading zero"});
    expect_invalid(npy_image(hdr("'|u1'", "False", "(2 3)")), "no_comma.npy", {"expected ',' or ')' in shape"});
    expect_invalid(npy_image(hdr("'|u1'", "False", "(2,")), "open.npy", {"non-negative integers"});
    expect_invalid(npy_image(hdr("'|u1'", "False", "(9223372036854775808,)")), "too_large.npy", {"shape dimension is too large"});
    expect_invalid(npy_image(hdr("'<f8'", "False", "(4294967296, 4294967296)")), "overflow.npy", {"the byte size of shape", "overflows"});
    expect_invalid(npy_image(hdr("'<f8'", "False", "(2305843009213693952,)")), "overflow8.npy", {"overflows"});
    std::string many = "(";
    for (int i = 0; i < 65; ++i) many += "1,";
    expect_invalid(npy_image(hdr("'|u1'", "False", many + ")"), "x"), "dims.npy", {"more than 64 dimensions"});
}

TEST_CASE("npy: the data length must match the shape", "[io][npy]") {
    expect_invalid(npy_image(hdr("'<f4'", "False", "(2,)"), "abcd"), "short.npy",
                   {"the data are 4 bytes, but shape [2] x 4-byte elements needs 8: the file is truncated"});
    expect_invalid(npy_image(hdr("'<f4'", "False", "(1,)"), "abcde"), "long.npy",
                   {"the data are 5 bytes", "needs 4: trailing bytes after the data"});
    expect_invalid(npy_image(hdr("'<f4'", "False", "()")), "scalar_missing.npy", {"the file is truncated"});
    auto full = read_file(io_data("npy/f32_v1.npy"));
    full.pop_back();
    expect_invalid(full, "cut_fixture.npy", {"truncated"});
}

TEST_CASE("npy: parse_npy names what it reads and owns its data", "[io][npy]") {
    auto bytes = read_file(io_data("npy/f64_be.npy"));
    auto a = mio::parse_npy(bytes, "x.npz:arr.npy");
    auto b = mio::parse_npy(std::vector<std::byte>(bytes), "x.npz:arr.npy");  // reuses the buffer
    CHECK(a.data == b.data);
    CHECK(a.shape == b.shape);
    bytes.assign(bytes.size(), std::byte{0});  // a does not point into bytes
    check_float_values(a.view("arr"));
    CHECK_THROWS_WITH(mio::parse_npy(std::span(bytes).first(5), "x.npz:arr.npy"),
                      Catch::StartsWith("x.npz:arr.npy: invalid npy file"));
    CHECK_THROWS_WITH(mio::read_npy("/nonexistent/dir/a.npy"),
                      Catch::Contains("/nonexistent/dir/a.npy") && Catch::Contains("cannot open"));
}
