// tensor_view / visit_rows and mapped_file.
#include <catch2/catch.hpp>

#include <mir/io/mapped_file.hpp>
#include <mir/io/tensor.hpp>

#include "support/io_support.hpp"

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mio = mir::io;
using namespace mir_test::io;

TEST_CASE("io dtypes: names and sizes", "[io]") {
    using mio::file_dtype;
    for (auto [t, name, size] : {std::tuple{file_dtype::f16, "F16", 2}, {file_dtype::bf16, "BF16", 2},
                                 {file_dtype::f32, "F32", 4}, {file_dtype::f64, "F64", 8},
                                 {file_dtype::boolean, "BOOL", 1}, {file_dtype::u8, "U8", 1}}) {
        CHECK(mio::to_string(t) == name);
        CHECK(mio::size_of(t) == static_cast<std::size_t>(size));
        CHECK(mio::parse_file_dtype(name) == t);
    }
    CHECK_FALSE(mio::parse_file_dtype("f32").has_value());
    CHECK_FALSE(mio::parse_file_dtype("I64").has_value());
    CHECK(mio::is_floating(file_dtype::bf16));
    CHECK_FALSE(mio::is_floating(file_dtype::u8));
    CHECK(mio::to_element_dtype(file_dtype::f16) == mir::dtype::f16);
    CHECK_FALSE(mio::to_element_dtype(file_dtype::boolean).has_value());
    static_assert(mio::file_dtype_of<mir::bfloat16> == file_dtype::bf16);
}

TEST_CASE("visit_rows: row ranges of an N-D tensor", "[io]") {
    std::vector<float> v(2 * 3 * 4);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
    mio::tensor_view t{"x", mio::file_dtype::f32, {2, 3, 4}, reinterpret_cast<const std::byte*>(v.data()),
                       v.size() * sizeof(float), "a.safetensors"};
    CHECK(t.numel() == 24);
    CHECK(t.outer() == 6);
    CHECK(t.cols() == 4);
    CHECK(t.describe() == "a.safetensors: tensor 'x'");
    const auto sum = mio::visit_rows(t, 2, 3, [](auto rows) {
        CHECK(std::is_same_v<typename decltype(rows)::value_type, float>);
        CHECK(rows.rows == 3);
        CHECK(rows.cols == 4);
        CHECK(rows.row_stride == 4);
        double s = 0;
        for (mir::index_t r = 0; r < rows.rows; ++r)
            for (mir::index_t c = 0; c < rows.cols; ++c) s += rows.row(r)[c];
        return s;
    });
    CHECK(sum == (8.0 + 19.0) * 12 / 2);  // elements 8..19
    CHECK(mio::visit_rows(t, 6, 0, [](auto rows) { return rows.rows; }) == 0);
    for (auto [first, n] : {std::pair<std::int64_t, std::int64_t>{-1, 1}, {0, 7}, {6, 1}, {7, 0}, {1, -1},
                            {2, std::numeric_limits<std::int64_t>::max()}}) {
        CHECK_THROWS_AS(mio::visit_rows(t, first, n, [](auto) {}), mir::shape_error);
    }
    CHECK_THROWS_WITH(mio::visit_rows(t, 0, 7, [](auto) {}),
                      Catch::Contains("a.safetensors: tensor 'x'") && Catch::Contains("outside its 6 rows"));
    CHECK_THROWS_WITH(mio::visit_rows(t, 0, 7, [](auto) {}, "custom name"), Catch::StartsWith("custom name"));
}

TEST_CASE("visit_rows: element types and bad views", "[io]") {
    std::vector<mir::half> h(6, mir::half(1.5f));
    mio::tensor_view t{"h", mio::file_dtype::f16, {6}, reinterpret_cast<const std::byte*>(h.data()), 12, ""};
    mio::visit_all_rows(t, [](auto rows) {
        CHECK(std::is_same_v<typename decltype(rows)::value_type, mir::half>);
        CHECK(rows.rows == 1);
        CHECK(static_cast<float>(rows.row(0)[5]) == 1.5f);
    });
    t.dtype = mio::file_dtype::bf16;
    mio::visit_all_rows(t, [](auto rows) { CHECK(std::is_same_v<typename decltype(rows)::value_type, mir::bfloat16>); });
    t.dtype = mio::file_dtype::f32;  // 12 bytes are not 6 floats
    CHECK_THROWS_WITH(mio::visit_all_rows(t, [](auto) {}), Catch::Contains("tensor 'h': holds 12 bytes"));
    t.dtype = mio::file_dtype::u8;
    CHECK_THROWS_WITH(mio::visit_all_rows(t, [](auto) {}), Catch::Contains("dtype U8 holds no hidden states"));
    t.dtype = mio::file_dtype::f16;
    t.shape = {-1};
    CHECK_THROWS_AS(mio::visit_all_rows(t, [](auto) {}), mir::shape_error);
    t.shape = {std::numeric_limits<std::int64_t>::max(), 4};
    CHECK_THROWS_AS(mio::visit_all_rows(t, [](auto) {}), mir::error);
    // Zero columns: rows exist, nothing to read.
    mio::tensor_view z{"z", mio::file_dtype::f64, {5, 0}, nullptr, 0, ""};
    CHECK(mio::visit_all_rows(z, [](auto rows) { return rows.rows; }) == 5);
}

TEST_CASE("mapped_file: open map move close", "[io]") {
    temp_dir dir;
    write_file(dir / "f.bin", bytes_of("hello mapped world"));
    auto f = mio::mapped_file::open(dir / "f.bin");
    CHECK(f.is_open());
    CHECK(f.size() == 18);
    CHECK(std::string_view(reinterpret_cast<const char*>(f.bytes().data()), f.size()) == "hello mapped world");
    f.release(f.bytes());  // a hint; the content stays
    CHECK(std::string_view(reinterpret_cast<const char*>(f.bytes().data()), 5) == "hello");
    auto g = std::move(f);
    CHECK_FALSE(f.is_open());
    CHECK(f.bytes().empty());
    CHECK(g.size() == 18);
    CHECK(g.path() == dir / "f.bin");
    g.close();
    g.close();
    CHECK(g.bytes().empty());

    write_file(dir / "empty.bin", {});
    auto e = mio::mapped_file::open(dir / "empty.bin");
    CHECK(e.is_open());
    CHECK(e.bytes().empty());
}

TEST_CASE("mapped_file: what cannot be mapped", "[io]") {
    temp_dir dir;
    CHECK_THROWS_AS(mio::mapped_file::open(dir / "missing"), mir::file_error);
    CHECK_THROWS_WITH(mio::mapped_file::open(dir / "missing"),
                      Catch::Contains((dir / "missing").string()) && Catch::Contains("cannot open: No such file"));
    CHECK_THROWS_WITH(mio::mapped_file::open(dir.path()), Catch::Contains("is a directory"));
    REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
    CHECK_THROWS_WITH(mio::mapped_file::open(dir / "fifo"), Catch::Contains("is not a regular file"));
}
