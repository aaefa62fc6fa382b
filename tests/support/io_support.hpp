// tests/support/io_support.hpp — helpers shared by the test_io_*.cpp files.
#pragma once

#include <catch2/catch.hpp>

#include <mir/error.hpp>
#include <mir/io/tensor.hpp>

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#ifndef MIR_TEST_DATA_DIR
#error "MIR_TEST_DATA_DIR must be defined by the build"
#endif

namespace mir_test::io {

namespace fs = std::filesystem;

inline fs::path io_data(const std::string& rel) { return fs::path(MIR_TEST_DATA_DIR) / "io" / rel; }

/// A fresh directory under the system temp dir, removed at scope exit.
class temp_dir {
public:
    temp_dir() {
        static std::atomic<int> counter{0};
        path_ = fs::temp_directory_path() /
                ("mir_io_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    [[nodiscard]] const fs::path& path() const { return path_; }
    [[nodiscard]] fs::path operator/(const std::string& name) const { return path_ / name; }

private:
    fs::path path_;
};

inline std::vector<std::byte> bytes_of(std::string_view s) {
    std::vector<std::byte> v(s.size());
    if (!s.empty()) std::memcpy(v.data(), s.data(), s.size());
    return v;
}

inline void append(std::vector<std::byte>& v, std::string_view s) {
    const auto b = bytes_of(s);
    v.insert(v.end(), b.begin(), b.end());
}

inline std::vector<std::byte> read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    REQUIRE(in.good());
    std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> v(c.size());
    if (!c.empty()) std::memcpy(v.data(), c.data(), c.size());
    return v;
}

inline void write_file(const fs::path& p, const std::vector<std::byte>& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
}

/// Writes `bytes` as <name> in a temp dir, calls open(path), and checks
/// that mir::file_error is thrown whose message names the file, says `kind`
/// ("invalid npy file") and contains every phrase.
template <class Open>
void expect_file_error(Open&& open, const std::vector<std::byte>& bytes, const std::string& name, std::string_view kind,
                       const std::vector<std::string>& phrases) {
    temp_dir dir;
    const auto path = dir / name;
    write_file(path, bytes);
    INFO("file " << name);
    try {
        (void)open(path);
        FAIL("no exception");
    } catch (const mir::file_error& e) {
        const std::string msg = e.what();
        INFO("message: " << msg);
        CHECK(msg.find(path.string()) != std::string::npos);
        CHECK(msg.find(kind) != std::string::npos);
        for (const auto& p : phrases) {
            INFO("phrase: " << p);
            CHECK(msg.find(p) != std::string::npos);
        }
    }
}

/// The fixture generator's values (tools/gen_io_fixtures.py).
inline double float_value(std::int64_t i) { return static_cast<double>(i % 97) * 0.5 - 7.0; }
inline std::uint8_t bool_value(std::int64_t i) { return i % 3 == 0 ? 1 : 0; }
inline std::uint8_t u8_value(std::int64_t i) { return static_cast<std::uint8_t>((7 * i) % 256); }

/// All elements of a floating tensor, in C order, as double.
inline std::vector<double> to_doubles(const mir::io::tensor_view& t) {
    std::vector<double> out;
    mir::io::visit_all_rows(t, [&](auto rows) {
        for (mir::index_t r = 0; r < rows.rows; ++r) {
            for (mir::index_t c = 0; c < rows.cols; ++c) out.push_back(mir::to_acc<double>(rows.row(r)[c]));
        }
    });
    return out;
}

/// Checks that every element i equals float_value(i).
inline void check_float_values(const mir::io::tensor_view& t) {
    const auto v = to_doubles(t);
    REQUIRE(static_cast<std::int64_t>(v.size()) == t.numel());
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] != float_value(static_cast<std::int64_t>(i))) {
            FAIL_CHECK(t.name << "[" << i << "] = " << v[i] << ", expected " << float_value(static_cast<std::int64_t>(i)));
            return;
        }
    }
}

/// Byte-wise element values of a BOOL/U8 tensor.
inline std::vector<std::uint8_t> to_u8(const mir::io::tensor_view& t) {
    std::vector<std::uint8_t> out(t.nbytes);
    if (t.nbytes) std::memcpy(out.data(), t.data, t.nbytes);
    return out;
}

}  // namespace mir_test::io
