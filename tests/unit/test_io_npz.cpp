// .npz reader (libzip): numpy.savez / savez_compressed, ZIP64, broken archives.
#include <catch2/catch.hpp>

#include <mir/io/npz.hpp>

#include "support/io_support.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace mio = mir::io;
using namespace mir_test::io;

namespace {

void check_dump(const mio::npz_file& z) {
    CHECK(z.names() == std::vector<std::string>{"hidden_states", "vision_mask"});
    CHECK(z.contains("hidden_states"));
    CHECK_FALSE(z.contains("hidden_states.npy"));
    const auto hs = z.read("hidden_states");
    CHECK(hs.dtype == mio::file_dtype::f16);
    CHECK(hs.shape == std::vector<std::int64_t>{3, 5, 4});
    check_float_values(hs.view("hidden_states"));
    const auto m = z.read("vision_mask");
    CHECK(m.dtype == mio::file_dtype::boolean);
    CHECK(m.shape == std::vector<std::int64_t>{5});
    CHECK(to_u8(m.view("vision_mask")) == std::vector<std::uint8_t>{1, 1, 0, 0, 0});
}

}  // namespace

TEST_CASE("npz: numpy.savez and numpy.savez_compressed archives", "[io][npz]") {
    for (const char* f : {"npz/savez.npz", "npz/savez_compressed.npz"}) {
        INFO(f);
        auto z = mio::npz_file::open(io_data(f));
        CHECK(z.path() == io_data(f));
        check_dump(z);
    }
}

TEST_CASE("npz: ZIP64 archives", "[io][npz]") {
    // ZIP64 extra fields in the local headers (Python's force_zip64, as
    // numpy.savez writes), and full ZIP64 records (central directory extra
    // fields, ZIP64 end of central directory record and locator).
    for (const char* f : {"npz/zip64_local.npz", "npz/zip64_full_stored.npz", "npz/zip64_full_deflated.npz"}) {
        INFO(f);
        check_dump(mio::npz_file::open(io_data(f)));
    }
}

TEST_CASE("npz: members that are not .npy arrays are ignored", "[io][npz]") {
    check_dump(mio::npz_file::open(io_data("npz/extra_members.npz")));
}

TEST_CASE("npz: errors name the archive and the member", "[io][npz]") {
    const auto bad = io_data("npz/bad_member.npz");
    auto z = mio::npz_file::open(bad);
    CHECK_THROWS_AS(z.read("hidden_states"), mir::file_error);
    CHECK_THROWS_WITH(z.read("hidden_states"),
                      Catch::Contains(bad.string() + ":hidden_states.npy") && Catch::Contains("magic string"));
    CHECK(z.read("vision_mask").shape == std::vector<std::int64_t>{5});  // the others still read

    const auto crc = io_data("npz/bad_crc.npz");
    auto c = mio::npz_file::open(crc);
    CHECK_THROWS_WITH(c.read("hidden_states"), Catch::Contains(crc.string() + ":hidden_states.npy") &&
                                                   Catch::Contains("cannot inflate the member") && Catch::Contains("CRC"));

    CHECK_THROWS_WITH(z.read("text"), Catch::Contains(bad.string()) && Catch::Contains("no array 'text'") &&
                                          Catch::Contains("it holds: hidden_states, vision_mask"));
}

TEST_CASE("npz: broken archives", "[io][npz]") {
    const auto cut = io_data("npz/truncated.npz");
    CHECK_THROWS_AS(mio::npz_file::open(cut), mir::file_error);
    CHECK_THROWS_WITH(mio::npz_file::open(cut), Catch::Contains(cut.string()) &&
                                                    Catch::Contains("invalid npz file: not a readable zip archive"));
    temp_dir dir;
    write_file(dir / "text.npz", bytes_of("hello, this is not a zip archive"));
    CHECK_THROWS_WITH(mio::npz_file::open(dir / "text.npz"),
                      Catch::Contains("text.npz") && Catch::Contains("not a readable zip archive"));
    write_file(dir / "empty.npz", {});
    CHECK_THROWS_WITH(mio::npz_file::open(dir / "empty.npz"),
                      Catch::Contains("empty.npz") && Catch::Contains("the file is empty (0 bytes), not a zip archive"));
    CHECK_THROWS_WITH(mio::npz_file::open(dir / "missing.npz"),
                      Catch::Contains("missing.npz") && Catch::Contains("cannot open"));
    // A local header that disagrees with the central directory.
    auto bytes = read_file(io_data("npz/savez.npz"));
    bytes[26] = std::byte{3};  // the first local header's name length
    write_file(dir / "inconsistent.npz", bytes);
    CHECK_THROWS_AS(
        [&] {
            auto z = mio::npz_file::open(dir / "inconsistent.npz");
            (void)z.read("hidden_states");
        }(),
        mir::file_error);
}

TEST_CASE("npz: from memory and after a move", "[io][npz]") {
    auto bytes = read_file(io_data("npz/savez_compressed.npz"));
    auto z = mio::npz_file::from_bytes(bytes, "mem.npz");
    bytes.assign(bytes.size(), std::byte{0});  // copied
    check_dump(z);
    auto moved = std::move(z);
    check_dump(moved);
    moved.close();
    CHECK_THROWS_WITH(moved.read("hidden_states"), Catch::Contains("mem.npz:hidden_states.npy") && Catch::Contains("closed"));
    mio::npz_file none;
    CHECK_THROWS_AS(none.read("x"), mir::file_error);
}

TEST_CASE("npz: two members of one name are named", "[io][npz]") {
    // libzip alone says "File already exists".
    const auto dup = io_data("npz/duplicate.npz");
    CHECK_THROWS_WITH(mio::npz_file::open(dup), Catch::Contains(dup.string()) &&
                                                    Catch::Contains("invalid npz file: duplicate member 'vision_mask.npy'"));
}

TEST_CASE("npz: members are inflated only when read", "[io][npz]") {
    // logits.npy fails its CRC, but only reading its data shows it: the
    // header and the other members read.
    const auto path = io_data("npz/unused_bad_crc.npz");
    auto z = mio::npz_file::open(path);
    CHECK(z.names() == std::vector<std::string>{"hidden_states", "vision_mask", "logits"});
    const auto h = z.header("logits");
    CHECK(h.dtype == mio::file_dtype::f32);
    CHECK(h.shape == std::vector<std::int64_t>{64, 8});
    CHECK(h.nbytes == 64 * 8 * 4);
    check_float_values(z.read("hidden_states").view("hidden_states"));
    CHECK(z.read("vision_mask").shape == std::vector<std::int64_t>{5});
    CHECK_THROWS_WITH(z.read("logits"), Catch::Contains(path.string() + ":logits.npy") && Catch::Contains("CRC"));
}

TEST_CASE("npz: a directory size beyond what deflate can produce is refused before allocating", "[io][npz]") {
    // The entries claim 0xF0000000 bytes (3.75 GiB) from ~100 compressed bytes.
    const auto path = io_data("npz/ratio_bomb.npz");
    auto z = mio::npz_file::open(path);
    CHECK_THROWS_WITH(z.header("hidden_states"),
                      Catch::Contains(path.string() + ":hidden_states.npy") && Catch::Contains("4026531840 bytes from") &&
                          Catch::Contains("more than deflate can produce (1032:1)"));
    CHECK_THROWS_WITH(z.read("hidden_states"), Catch::Contains("more than deflate can produce"));
}

TEST_CASE("npz: many members: hashed lookup, the sizes from the directory", "[io][npz]") {
    auto z = mio::npz_file::open(io_data("npz/savez.npz"));
    CHECK(z.header("hidden_states").nbytes == 3 * 5 * 4 * 2);
    CHECK_THROWS_WITH(z.header("nope"), Catch::Contains("no array 'nope'"));
}
