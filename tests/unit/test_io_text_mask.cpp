// text_mask (SPEC §6–7): positions in neither the vision nor the text set
// are ignored. The same rows given as per-sample dumps with a text_mask and
// ignored BOS-like prefix positions, as pre-split dumps of only the vision
// and text rows, through the sink with vision and text ranges, and through
// the accumulator with two masks must give the same MIR under every outlier
// policy and square root.
#include <catch2/catch.hpp>

#include <mir/io/safetensors.hpp>
#include <mir/mask.hpp>
#include <mir/metric/accumulator.hpp>
#include <mir/metric/multipass.hpp>
#include <mir/source/dump.hpp>
#include <mir/source/dump_source.hpp>
#include <mir/source/sink.hpp>
#include <mir/source/vision_positions.hpp>

#include "support/io_support.hpp"

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace mio = mir::io;
using namespace mir_test::io;

namespace {

/// An exception matcher from a string matcher on what() (Catch2 2.13 has
/// only the exact Message matcher).
template <class M>
struct what_matches : Catch::MatcherBase<std::exception> {
    M m;
    explicit what_matches(M matcher) : m(std::move(matcher)) {}
    bool match(const std::exception& e) const override { return m.match(e.what()); }
    std::string describe() const override { return "what() " + m.describe(); }
};
template <class M>
what_matches<M> what(M m) {
    return what_matches<M>(std::move(m));
}

constexpr int kIndices = 3;  // K = 2
constexpr int kDim = 5;

/// One synthetic sample: `prefix` BOS-like positions (huge values, in
/// neither set), `vision` image positions, then `text` text positions;
/// hidden [kIndices, tokens, kDim] row-major as double.
struct sample {
    int prefix, vision, text;
    std::vector<double> hidden;
    [[nodiscard]] int tokens() const { return prefix + vision + text; }
    [[nodiscard]] const double* row(int k, int t) const {
        return hidden.data() + (static_cast<std::size_t>(k) * tokens() + t) * kDim;
    }
};

std::vector<sample> make_samples() {
    std::mt19937_64 rng(11);
    std::normal_distribution<double> n01;
    std::vector<sample> out;
    const int shapes[][3] = {{1, 7, 9}, {3, 6, 12}, {2, 8, 7}};
    for (const auto& s : shapes) {
        sample x{s[0], s[1], s[2], {}};
        x.hidden.resize(static_cast<std::size_t>(kIndices) * x.tokens() * kDim);
        for (int k = 0; k < kIndices; ++k) {
            for (int t = 0; t < x.tokens(); ++t) {
                for (int j = 0; j < kDim; ++j) {
                    double v = n01(rng) + (t >= x.prefix && t < x.prefix + x.vision ? 1.5 + 0.3 * j : 0.0);
                    if (t < x.prefix && j == 1) v += 3000.0;                // a massive activation
                    if (t == x.prefix + x.vision + 2 && j == 3) v += 40.0;  // an outlier text row
                    x.hidden[(static_cast<std::size_t>(k) * x.tokens() + t) * kDim + j] = v;
                }
            }
        }
        out.push_back(std::move(x));
    }
    return out;
}

std::span<const std::byte> as_bytes(const std::vector<std::uint8_t>& v) {
    return {reinterpret_cast<const std::byte*>(v.data()), v.size()};
}
std::span<const std::byte> as_bytes(const std::vector<double>& v) {
    return {reinterpret_cast<const std::byte*>(v.data()), v.size() * sizeof(double)};
}

std::vector<std::uint8_t> vision_mask(const sample& s) {
    std::vector<std::uint8_t> m(static_cast<std::size_t>(s.tokens()), 0);
    for (int t = s.prefix; t < s.prefix + s.vision; ++t) m[static_cast<std::size_t>(t)] = 1;
    return m;
}
std::vector<std::uint8_t> text_mask(const sample& s) {
    std::vector<std::uint8_t> m(static_cast<std::size_t>(s.tokens()), 0);
    for (int t = s.prefix + s.vision; t < s.tokens(); ++t) m[static_cast<std::size_t>(t)] = 1;
    return m;
}

/// (a) per-sample: hidden_states + vision_mask (+ text_mask when `with_text`).
void write_per_sample(const fs::path& p, const sample& s, bool with_text) {
    const auto vm = vision_mask(s), tm = text_mask(s);
    std::vector<mio::tensor_to_write> ts{
        {"hidden_states", mio::file_dtype::f64, {kIndices, s.tokens(), kDim}, as_bytes(s.hidden)},
        {"vision_mask", mio::file_dtype::u8, {s.tokens()}, as_bytes(vm)}};
    if (with_text) ts.push_back({"text_mask", mio::file_dtype::u8, {s.tokens()}, as_bytes(tm)});
    mio::write_safetensors(p, ts);
}

/// (b) pre-split: only the vision and the text rows.
void write_pre_split(const fs::path& p, const sample& s) {
    std::vector<double> v, t;
    for (int k = 0; k < kIndices; ++k) {
        for (int i = s.prefix; i < s.tokens(); ++i) {
            auto& out = i < s.prefix + s.vision ? v : t;
            out.insert(out.end(), s.row(k, i), s.row(k, i) + kDim);
        }
    }
    mio::write_safetensors(p, {{"vision", mio::file_dtype::f64, {kIndices, s.vision, kDim}, as_bytes(v)},
                               {"text", mio::file_dtype::f64, {kIndices, s.text, kDim}, as_bytes(t)}});
}

/// The exact multipass route of `mir compute`: every layer 1..K.
mir::mir_result multipass(const mir::dump_source& src, const mir::accumulator_options& a) {
    std::vector<mir::layer_result> layers;
    for (int k = 1; k < src.num_indices(); ++k) {
        mir::layer_options o;
        o.policy = a.policy;
        o.sqrt = a.sqrt;
        o.layer = k;
        layers.push_back(mir::compute_layer_multipass<double>([&](auto&& sink) { src.replay_layer(k, sink); },
                                                              src.hidden_size(), o));
    }
    return mir::aggregate(std::move(layers));
}

void require_same(const mir::mir_result& a, const mir::mir_result& b, const std::string& what) {
    INFO(what);
    REQUIRE(a.layers.size() == b.layers.size());
    for (std::size_t i = 0; i < a.layers.size(); ++i) {
        INFO("layer " << a.layers[i].layer);
        CHECK(a.layers[i].vision.rows == b.layers[i].vision.rows);
        CHECK(a.layers[i].text.rows == b.layers[i].text.rows);
        CHECK(a.layers[i].fid == Approx(b.layers[i].fid).epsilon(1e-12).margin(1e-300));
        CHECK(a.layers[i].alpha == Approx(b.layers[i].alpha).epsilon(1e-12));
    }
    CHECK(a.mir == Approx(b.mir).epsilon(1e-12));
}

}  // namespace

TEST_CASE("token roles: vision, text, neither; a position in both is refused", "[mask][text_mask]") {
    const std::vector<std::uint8_t> v{0, 1, 1, 0, 0}, t{0, 0, 0, 1, 0};
    const auto r = mir::token_roles(std::span<const std::uint8_t>(v), std::span<const std::uint8_t>(t));
    using R = mir::token_role;
    CHECK(r == std::vector<R>{R::ignored, R::vision, R::vision, R::text, R::ignored});
    // Without a text mask every non-vision position is text.
    CHECK(mir::token_roles(std::span<const std::uint8_t>(v)) ==
          std::vector<R>{R::text, R::vision, R::vision, R::text, R::text});
    const std::vector<std::uint8_t> both{0, 0, 1, 1, 0};
    CHECK_THROWS_MATCHES(mir::token_roles(std::span<const std::uint8_t>(v), std::span<const std::uint8_t>(both)),
                         mir::argument_error, what(Catch::Matchers::Contains("token position 2 is in both")));
    const std::vector<std::uint8_t> shorter{0, 1};
    CHECK_THROWS_AS(mir::token_roles(std::span<const std::uint8_t>(v), std::span<const std::uint8_t>(shorter)),
                    mir::shape_error);
}

TEST_CASE("vision_positions with text ranges: runs leave ignored positions out", "[mask][text_mask][sink]") {
    const auto p = mir::vision_positions::from_ranges({{2, 5}}, {{5, 8}, {9, 10}}, 12);
    CHECK(p.text_given());
    CHECK(p.last_used() == 10);
    std::vector<std::tuple<mir::index_t, mir::index_t, bool>> runs;
    p.for_each_run(0, 12, [&](mir::index_t b, mir::index_t e, bool v) { runs.emplace_back(b, e, v); });
    CHECK(runs ==
          std::vector<std::tuple<mir::index_t, mir::index_t, bool>>{{2, 5, true}, {5, 8, false}, {9, 10, false}});
    runs.clear();
    p.for_each_run(4, 6, [&](mir::index_t b, mir::index_t e, bool v) { runs.emplace_back(b, e, v); });  // [4, 10)
    CHECK(runs ==
          std::vector<std::tuple<mir::index_t, mir::index_t, bool>>{{4, 5, true}, {5, 8, false}, {9, 10, false}});
    // The same from masks.
    const std::vector<std::uint8_t> vm{0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0}, tm{0, 0, 0, 0, 0, 1, 1, 1, 0, 1, 0, 0};
    const auto q = mir::vision_positions::from_masks(vm, tm);
    CHECK(q.ranges() == p.ranges());
    CHECK(q.text_ranges() == p.text_ranges());
    CHECK_THROWS_MATCHES(mir::vision_positions::from_ranges({{2, 5}}, {{4, 8}}), mir::argument_error,
                         what(Catch::Matchers::Contains("token position 4 is in both")));
    CHECK_THROWS_MATCHES(mir::vision_positions::from_ranges({{0, 2}}, {{2, 30}}, 12), mir::argument_error,
                         what(Catch::Matchers::Contains("text range 0 [2, 30) ends past")));
}

TEST_CASE("text_mask dumps, pre-split dumps, the sink and the accumulator agree on the same rows",
          "[text_mask][dump]") {
    const auto samples = make_samples();
    temp_dir masked, split, all_text;
    for (std::size_t i = 0; i < samples.size(); ++i) {
        const std::string name = "s" + std::to_string(i) + ".safetensors";
        write_per_sample(masked / name, samples[i], true);
        write_pre_split(split / name, samples[i]);
        write_per_sample(all_text / name, samples[i], false);
    }
    const auto a = mir::dump_source::open(masked.path());
    const auto b = mir::dump_source::open(split.path());
    const auto c = mir::dump_source::open(all_text.path());
    {
        const auto f = mir::dump_file::open(masked / "s1.safetensors");
        CHECK(f.has_text_mask());
        CHECK(f.vision_rows() == 6);
        CHECK(f.text_rows() == 12);
        CHECK(f.ignored_rows() == 3);
        CHECK(f.tokens() == 21);
        CHECK(a.text_rows() == b.text_rows());
        CHECK(a.vision_rows() == b.vision_rows());
    }
    for (const auto& pol : mir::outlier_policies) {
        for (const auto& m : mir::sqrt_catalogue) {
            mir::accumulator_options o;
            o.policy = pol.policy;
            o.sqrt = m.method;
            const std::string what = std::string(pol.name) + ", " + std::string(m.name);
            const mir::mir_result ra = multipass(a, o), rb = multipass(b, o);
            require_same(ra, rb, what + ": multipass, text_mask vs pre-split");
            require_same(mir::compute_mir(a, o), rb, what + ": streaming text_mask vs multipass pre-split");
            require_same(mir::compute_mir(b, o), rb, what + ": streaming pre-split vs multipass pre-split");

            // The sink with ranges, and the accumulator with two masks.
            mir::hidden_state_sink sink(kIndices, kDim, o);
            mir::mir_accumulator acc(kIndices, kDim, o);
            for (const auto& s : samples) {
                sink.begin_sample(mir::vision_positions::from_ranges({{s.prefix, s.prefix + s.vision}},
                                                                     {{s.prefix + s.vision, s.tokens()}}, s.tokens()));
                const auto vm = vision_mask(s), tm = text_mask(s);
                for (int k = 0; k < kIndices; ++k) {
                    const mir::row_view<double> rows{s.row(k, 0), s.tokens(), kDim, kDim};
                    sink.push(k, rows);
                    acc.add(k, rows, std::span<const std::uint8_t>(vm), std::span<const std::uint8_t>(tm));
                }
                sink.end_sample();
            }
            require_same(sink.finalize(), rb, what + ": sink with vision and text ranges");
            require_same(acc.finalize(), rb, what + ": accumulator with two masks");

            // Counting the BOS-like prefix as text changes the result (the
            // check above is not vacuous).
            const mir::mir_result rc = multipass(c, o);
            CHECK(std::abs(rc.mir - rb.mir) > 1e-3);
        }
    }
}

TEST_CASE("text_mask: malformed masks are named with the file and the rule", "[text_mask][dump][errors]") {
    const sample s = make_samples()[0];
    temp_dir dir;
    const auto vm = vision_mask(s);
    auto write = [&](const fs::path& p, const std::vector<std::uint8_t>& tm, mio::file_dtype dt, std::int64_t n) {
        mio::write_safetensors(
            p, {{"hidden_states", mio::file_dtype::f64, {kIndices, s.tokens(), kDim}, as_bytes(s.hidden)},
                {"vision_mask", mio::file_dtype::u8, {s.tokens()}, as_bytes(vm)},
                {"text_mask", dt, {n}, as_bytes(tm)}});
    };
    auto tm = text_mask(s);
    tm[static_cast<std::size_t>(s.prefix + 1)] = 1;  // a vision position marked text too
    write(dir / "both.safetensors", tm, mio::file_dtype::u8, s.tokens());
    CHECK_THROWS_MATCHES(mir::dump_file::open(dir / "both.safetensors"), mir::error,
                         what(Catch::Matchers::Contains("both.safetensors") &&
                              Catch::Matchers::Contains("token position " + std::to_string(s.prefix + 1) +
                                                        " is in both")));

    std::vector<std::uint8_t> shorter(static_cast<std::size_t>(s.tokens() - 1), 0);
    write(dir / "short.safetensors", shorter, mio::file_dtype::u8, s.tokens() - 1);
    CHECK_THROWS_MATCHES(mir::dump_file::open(dir / "short.safetensors"), mir::file_error,
                         what(Catch::Matchers::Contains("tensor 'text_mask' has " + std::to_string(s.tokens() - 1) +
                                                        " entries")));

    auto two = text_mask(s);
    two[0] = 2;
    write(dir / "two.safetensors", two, mio::file_dtype::u8, s.tokens());
    CHECK_THROWS_MATCHES(mir::dump_file::open(dir / "two.safetensors"), mir::file_error,
                         what(Catch::Matchers::Contains("text_mask[0] is 2; expected 0 or 1")));

    std::vector<std::uint8_t> none(static_cast<std::size_t>(s.tokens()), 0);
    write(dir / "none.safetensors", none, mio::file_dtype::u8, s.tokens());
    CHECK_THROWS_MATCHES(mir::dump_file::open(dir / "none.safetensors"), mir::file_error,
                         what(Catch::Matchers::Contains("no text rows (every text_mask entry is 0")));

    const std::vector<double> wide(static_cast<std::size_t>(s.tokens()), 1.0);
    mio::write_safetensors(dir / "f64.safetensors",
                           {{"hidden_states", mio::file_dtype::f64, {kIndices, s.tokens(), kDim}, as_bytes(s.hidden)},
                            {"vision_mask", mio::file_dtype::u8, {s.tokens()}, as_bytes(vm)},
                            {"text_mask", mio::file_dtype::f64, {s.tokens()}, as_bytes(wide)}});
    CHECK_THROWS_MATCHES(mir::dump_file::open(dir / "f64.safetensors"), mir::file_error,
                         what(Catch::Matchers::Contains("tensor 'text_mask' has dtype F64; expected BOOL or U8")));

    const std::vector<double> rows(static_cast<std::size_t>(kIndices * 2 * kDim), 0.5);
    const std::vector<std::uint8_t> mask2{1, 0};
    mio::write_safetensors(dir / "split.safetensors",
                           {{"vision", mio::file_dtype::f64, {kIndices, 2, kDim}, as_bytes(rows)},
                            {"text", mio::file_dtype::f64, {kIndices, 2, kDim}, as_bytes(rows)},
                            {"text_mask", mio::file_dtype::u8, {2}, as_bytes(mask2)}});
    CHECK_THROWS_MATCHES(mir::dump_file::open(dir / "split.safetensors"), mir::file_error,
                         what(Catch::Matchers::Contains("'text_mask' belongs to the per-sample layout")));

    // The accumulator's two-mask add names the position and the layer.
    mir::mir_accumulator acc(kIndices, kDim);
    const mir::row_view<double> r{s.row(1, 0), s.tokens(), kDim, kDim};
    CHECK_THROWS_MATCHES(acc.add(1, r, std::span<const std::uint8_t>(vm), std::span<const std::uint8_t>(tm)),
                         mir::argument_error,
                         what(Catch::Matchers::Contains("layer 1") && Catch::Matchers::Contains("is in both")));
}
