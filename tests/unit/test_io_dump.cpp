// The dump layer (mir/source/dump.hpp, dump_source.hpp) on hostile and
// careless inputs: each file's table read once per run, lazy npz members,
// dimensions checked before narrowing, inputs that are the same file, symlink
// loops, a lone .npy where a dump is expected.
#include <catch2/catch.hpp>

#include <mir/io/safetensors.hpp>
#include <mir/metric/multipass.hpp>
#include <mir/source/dump.hpp>
#include <mir/source/dump_source.hpp>

#include "support/io_support.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mio = mir::io;
using namespace mir_test::io;

namespace {

/// A per-sample dump [indices, tokens, d] (F32, values float_value(i) + seed)
/// with mask[i] = i < vision.
void write_dump(const fs::path& p, int indices, int tokens, int d, int vision, int seed = 0) {
    std::vector<float> h(static_cast<std::size_t>(indices * tokens * d));
    for (std::size_t i = 0; i < h.size(); ++i) {
        h[i] = static_cast<float>(float_value(static_cast<std::int64_t>(i) * 7 + seed) + 0.01 * static_cast<double>(i % 13));
    }
    std::vector<std::uint8_t> m(static_cast<std::size_t>(tokens));
    for (int i = 0; i < tokens; ++i) m[static_cast<std::size_t>(i)] = i < vision ? 1 : 0;
    mio::write_safetensors(p, {{"hidden_states", mio::file_dtype::f32, {indices, tokens, d},
                                {reinterpret_cast<const std::byte*>(h.data()), h.size() * sizeof(float)}},
                               {"vision_mask", mio::file_dtype::u8, {tokens},
                                {reinterpret_cast<const std::byte*>(m.data()), m.size()}}});
}

std::uint64_t table_reads() { return mio::detail::table_reads().load(); }

}  // namespace

TEST_CASE("dump: a run reads each file's table once, however many passes", "[io][dump]") {
    temp_dir dir;
    for (int i = 0; i < 3; ++i) write_dump(dir / ("s" + std::to_string(i) + ".safetensors"), 3, 12, 4, 5, i);
    fs::copy_file(io_data("npz/savez.npz"), dir / "s3.npz");  // hidden_states [3, 5, 4] + vision_mask
    const std::uint64_t before = table_reads();
    const auto src = mir::dump_source::open(dir.path());
    CHECK(src.num_samples() == 4);
    CHECK(table_reads() - before == 4);
    for (auto policy : {mir::outlier_policy::replace_median, mir::outlier_policy::drop}) {
        mir::layer_options o;
        o.policy = policy;
        for (int k = 0; k < src.num_indices(); ++k) {
            mir::multipass_info info;
            o.layer = k;
            const auto replay = [&](auto&& sink) { src.replay_layer(k, sink); };
            (void)mir::compute_layer_multipass<double>(replay, src.hidden_size(), o, &info);
            CHECK(info.passes >= 2);
        }
    }
    (void)mir::compute_mir(src);  // feed_sample too
    CHECK(table_reads() - before == 4);
}

TEST_CASE("dump: a file rewritten during the run is refused, not misread", "[io][dump]") {
    temp_dir dir;
    write_dump(dir / "a.safetensors", 2, 6, 3, 2);
    const auto f = mir::dump_file::open(dir / "a.safetensors");
    auto closed = mir::dump_file::open(dir / "a.safetensors");
    closed.close();
    CHECK(closed.mask().size() == 6);  // the index outlives the data
    CHECK_THROWS_WITH(closed.visit_hidden_rows(0, [](const auto&) {}), Catch::Contains("closed"));
    CHECK_NOTHROW(closed.reopen().visit_hidden_rows(1, [](const auto& r) { CHECK(r.rows == 6); }));
    write_dump(dir / "a.safetensors", 2, 7, 3, 2);  // a new file (rename) of another size
    CHECK_THROWS_WITH(closed.reopen(), Catch::Contains("a.safetensors") && Catch::Contains("changed since it was opened"));
}

TEST_CASE("dump: npz members that the dump does not use are never inflated", "[io][dump][npz]") {
    // logits.npy fails its CRC: reading it would throw.
    const auto path = io_data("npz/unused_bad_crc.npz");
    const auto before = table_reads();
    const auto src = mir::dump_source::open(path);
    CHECK(src.vision_rows() == 2);
    CHECK(src.text_rows() == 3);
    const auto r = mir::compute_mir(src);
    CHECK_FALSE(r.layers.empty());
    CHECK(table_reads() - before == 1);
    // A claimed size beyond deflate's ratio: refused naming file and member.
    CHECK_THROWS_WITH(mir::dump_file::open(io_data("npz/ratio_bomb.npz")),
                      Catch::Contains("ratio_bomb.npz:hidden_states.npy") && Catch::Contains("more than deflate can produce"));
}

TEST_CASE("dump: every dimension is checked before it is narrowed", "[io][dump]") {
    temp_dir dir;
    // K + 1 = 2^32 + 3 was read as K = 2 (a cast to int).
    const std::int64_t big = (std::int64_t{1} << 32) + 3;
    mio::write_safetensors(dir / "k.safetensors", {{"hidden_states", mio::file_dtype::f32, {big, 0, 1}, {}},
                                                   {"vision_mask", mio::file_dtype::u8, {0}, {}}});
    CHECK_THROWS_WITH(mir::dump_file::open(dir / "k.safetensors"),
                      Catch::Contains("k.safetensors") && Catch::Contains("tensor 'hidden_states'") &&
                          Catch::Contains("dimension 0 (hidden-state indices, K + 1) is 4294967299"));
    mio::write_safetensors(dir / "s.safetensors", {{"vision", mio::file_dtype::f16, {std::int64_t{1} << 31, 0, 4}, {}},
                                                   {"text", mio::file_dtype::f16, {std::int64_t{1} << 31, 0, 4}, {}}});
    CHECK_THROWS_WITH(mir::dump_file::open(dir / "s.safetensors"),
                      Catch::Contains("tensor 'vision'") && Catch::Contains("is 2147483648, more than the 2147483647"));
    // The largest K + 1 that fits is accepted as far as the layout goes.
    mio::write_safetensors(dir / "ok.safetensors", {{"hidden_states", mio::file_dtype::f32, {2147483647, 0, 1}, {}},
                                                    {"vision_mask", mio::file_dtype::u8, {0}, {}}});
    CHECK_THROWS_WITH(mir::dump_file::open(dir / "ok.safetensors"), Catch::Contains("no vision rows"));
}

TEST_CASE("dump: a lone .npy where a dump is expected", "[io][dump]") {
    temp_dir dir;
    const auto npy = read_file(io_data("npy/f32_v1.npy"));
    write_file(dir / "x.npy", npy);
    write_file(dir / "renamed.safetensors", npy);
    write_file(dir / "renamed.npz", npy);
    for (const char* name : {"x.npy", "renamed.safetensors", "renamed.npz"}) {
        INFO(name);
        CHECK_THROWS_WITH(mio::tensor_file::open(dir / name),
                          Catch::Contains(name) && Catch::Contains("a .npy file holds one array; a dump needs named tensors"));
    }
}

TEST_CASE("dump: the same file twice, or a file and its directory, is refused naming both", "[io][dump]") {
    temp_dir dir;
    fs::create_directories(dir / "d");
    write_dump(dir / "d" / "a.safetensors", 2, 6, 3, 2);
    write_dump(dir / "d" / "b.safetensors", 2, 6, 3, 2, 1);
    const auto a = dir / "d" / "a.safetensors";
    CHECK_THROWS_WITH(mir::expand_inputs({a, a}), Catch::Contains("'" + a.string() + "' and '" + a.string() + "'") &&
                                                      Catch::Contains("are the same file"));
    CHECK_THROWS_WITH(mir::expand_inputs({dir / "d", a}),
                      Catch::Contains("'" + a.string() + "'") && Catch::Contains("(from argument '" + (dir / "d").string() + "')") &&
                          Catch::Contains("same file"));
    // Another name for it: a hard link, a symlink, a path with "..".
    fs::create_hard_link(a, dir / "hard.safetensors");
    fs::create_symlink(a, dir / "soft.safetensors");
    for (const auto& other : {dir / "hard.safetensors", dir / "soft.safetensors", dir / "d" / ".." / "d" / "a.safetensors"}) {
        INFO(other.string());
        CHECK_THROWS_WITH(mir::dump_source::open(std::vector<fs::path>{a, other}), Catch::Contains("same file"));
    }
    CHECK(mir::expand_inputs({dir / "d"}).size() == 2);
    CHECK(mir::expand_inputs({a, dir / "d" / "b.safetensors"}).size() == 2);
}

TEST_CASE("dump: symlink loops and unreadable directories are named", "[io][dump]") {
    temp_dir dir;
    fs::create_symlink(dir / "loop.safetensors", dir / "loop.safetensors");
    CHECK_THROWS_WITH(mir::expand_inputs({dir / "loop.safetensors"}),
                      Catch::Contains("loop.safetensors") && Catch::Contains("is a symlink loop"));
    fs::create_directories(dir / "d");
    write_dump(dir / "d" / "a.safetensors", 2, 6, 3, 2);
    fs::create_symlink(dir / "d" / "x.npz", dir / "d" / "x.npz");
    CHECK_THROWS_WITH(mir::expand_inputs({dir / "d"}), Catch::Contains((dir / "d" / "x.npz").string() + ": is a symlink loop") &&
                                                           Catch::Contains("(in directory " + (dir / "d").string() + ")"));
    // A loop of directories given as the input.
    fs::create_symlink(dir / "e", dir / "f");
    fs::create_symlink(dir / "f", dir / "e");
    CHECK_THROWS_WITH(mir::expand_inputs({dir / "e"}), Catch::Contains("e: is a symlink loop"));
    CHECK_THROWS_WITH(mir::expand_inputs({dir / "missing"}), Catch::Contains("missing: no such file or directory"));
    if (::geteuid() != 0) {  // root reads any directory
        fs::create_directories(dir / "locked");
        fs::permissions(dir / "locked", fs::perms::none);
        CHECK_THROWS_WITH(mir::expand_inputs({dir / "locked"}),
                          Catch::Contains("locked: cannot read the directory: ") && Catch::Contains("ermission denied"));
        fs::permissions(dir / "locked", fs::perms::owner_all);
    }
}
