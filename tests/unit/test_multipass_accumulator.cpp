// multipass_accumulator (mir/metric/multipass_accumulator.hpp): the data
// replayed pass by pass gives what the one-pass accumulator that keeps every
// row gives (mir_accumulator, median_mode::keep_rows: exact) — every policy,
// vision-only and vision+text masks, strided tensors, two participants
// merged — and it refuses what would be wrong.
#include <catch2/catch.hpp>

#include <mir/metric/accumulator.hpp>
#include <mir/metric/multipass_accumulator.hpp>
#include <mir/stats/state_bytes.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace {

constexpr int K1 = 4;          // hidden-state indices (K = 3)
constexpr mir::index_t D = 12;  // hidden size

struct sample {
    mir::index_t tokens;
    std::vector<std::vector<float>> layers;  // [index][T * D]
    std::vector<std::uint8_t> vision, text;  // text: 0 for the first token (a BOS in neither set)
};

std::vector<sample> make_samples(int n, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> g(0.0, 1.0);
    std::vector<sample> out;
    for (int s = 0; s < n; ++s) {
        sample x;
        x.tokens = 14 + (s * 7) % 11;
        for (int k = 0; k < K1; ++k) {
            std::vector<float> rows(static_cast<std::size_t>(x.tokens * D));
            for (mir::index_t i = 0; i < x.tokens; ++i) {
                const bool vis = i >= 1 && i < 7;
                const double big = (i + s) % 13 == 5 ? 30.0 : 1.0;  // outliers for the 3σ rule
                for (mir::index_t j = 0; j < D; ++j) {
                    rows[static_cast<std::size_t>(i * D + j)] =
                        static_cast<float>(big * g(rng) + (vis ? 0.4 * k * std::sin(0.5 * j) : 0.1 * j));
                }
            }
            x.layers.push_back(std::move(rows));
        }
        for (mir::index_t i = 0; i < x.tokens; ++i) {
            x.vision.push_back(i >= 1 && i < 7 ? 1 : 0);
            x.text.push_back(i >= 7 ? 1 : 0);
        }
        out.push_back(std::move(x));
    }
    return out;
}

mir::mir_result one_pass(const std::vector<sample>& data, mir::outlier_policy p, bool text_mask) {
    mir::accumulator_options o;
    o.policy = p;
    mir::mir_accumulator acc(K1, D, o);
    for (const auto& s : data) {
        for (int k = 0; k < K1; ++k) {
            const mir::row_view<float> rows(s.layers[static_cast<std::size_t>(k)].data(), s.tokens, D);
            if (text_mask) {
                acc.add(k, rows, std::span<const std::uint8_t>(s.vision), std::span<const std::uint8_t>(s.text));
            } else {
                acc.add(k, rows, std::span<const std::uint8_t>(s.vision));
            }
        }
    }
    return acc.finalize();
}

// Replays `data` (the samples [first, last)) into `acc` for one pass.
void replay(mir::multipass_accumulator& acc, const std::vector<sample>& data, std::size_t first, std::size_t last,
            bool text_mask) {
    for (std::size_t i = first; i < last; ++i) {
        const sample& s = data[i];
        for (int k = 0; k < K1; ++k) {
            const mir::row_view<float> rows(s.layers[static_cast<std::size_t>(k)].data(), s.tokens, D);
            if (text_mask) {
                acc.add(k, rows, std::span<const std::uint8_t>(s.vision), std::span<const std::uint8_t>(s.text));
            } else {
                acc.add(k, rows, std::span<const std::uint8_t>(s.vision));
            }
        }
    }
}

void same(const mir::mir_result& a, const mir::mir_result& b) {
    REQUIRE(a.layers.size() == b.layers.size());
    for (std::size_t i = 0; i < a.layers.size(); ++i) {
        INFO("layer " << a.layers[i].layer);
        CHECK(a.layers[i].layer == b.layers[i].layer);
        CHECK(a.layers[i].fid == Approx(b.layers[i].fid).epsilon(1e-10));
        CHECK(a.layers[i].alpha == Approx(b.layers[i].alpha).epsilon(1e-12));
        CHECK(a.layers[i].vision.rows == b.layers[i].vision.rows);
        CHECK(a.layers[i].text.rows == b.layers[i].text.rows);
        CHECK(a.layers[i].vision.outliers == b.layers[i].vision.outliers);
        CHECK(a.layers[i].text.outliers == b.layers[i].text.outliers);
        CHECK(a.layers[i].exact);
    }
    CHECK(a.mir == Approx(b.mir).epsilon(1e-11));
}

}  // namespace

TEST_CASE("multipass_accumulator replayed equals keeping every row", "[multipass_accumulator]") {
    const auto data = make_samples(30, 7);
    for (auto p : {mir::outlier_policy::replace_median, mir::outlier_policy::drop, mir::outlier_policy::none}) {
        for (bool text_mask : {false, true}) {
            INFO("policy " << to_string(p) << ", text mask " << text_mask);
            mir::multipass_options o;
            o.policy = p;
            mir::multipass_accumulator acc(K1, D, o);
            int passes = 0;
            while (!acc.done()) {
                CHECK(acc.pass() == passes + 1);
                replay(acc, data, 0, data.size(), text_mask);
                acc.end_pass();
                ++passes;
                REQUIRE(passes <= 6);
            }
            // Pass 1 the norms, pass 2 the moments; f32 rows' medians need two more digit passes.
            CHECK(passes == (p == mir::outlier_policy::replace_median ? 4 : 2));
            CHECK(acc.passes_expected() == passes);
            same(acc.result(), one_pass(data, p, text_mask));
            CHECK(&acc.result() == &acc.result());  // computed once, kept
        }
    }
}

TEST_CASE("multipass_accumulator: two participants merged pass by pass", "[multipass_accumulator]") {
    const auto data = make_samples(24, 11);
    for (auto p : {mir::outlier_policy::replace_median, mir::outlier_policy::drop}) {
        INFO("policy " << to_string(p));
        mir::multipass_options o;
        o.policy = p;
        mir::multipass_accumulator state(K1, D, o);
        while (!state.done()) {
            mir::multipass_accumulator a = state.fork(), b = state.fork();
            replay(a, data, 0, 10, true);
            replay(b, data, 10, data.size(), true);
            state.merge(a);
            state.merge(b);
            state.end_pass();
        }
        same(state.result(), one_pass(data, p, true));
    }
    mir::multipass_accumulator a(K1, D), later(K1, D);
    replay(later, data, 0, data.size(), true);
    later.end_pass();  // now at pass 2
    CHECK_THROWS_WITH(a.merge(later), Catch::Contains("another pass"));
    replay(a, data, 0, 4, true);
    CHECK_THROWS_WITH(a.fork(), Catch::Contains("holds rows of the pass in progress"));
}

TEST_CASE("multipass_accumulator: states sent as bytes and restored continue exactly", "[multipass_accumulator]") {
    // What the Python module's all_reduce and state_dict do: every pass, each participant's states as
    // bytes (mir/stats/state_bytes.hpp), read back and merged in order; and a whole accumulator restored.
    const auto data = make_samples(21, 5);
    mir::multipass_accumulator a(K1, D), b(K1, D);
    auto& ta = std::get<mir::basic_multipass_accumulator<double>>(a.typed());
    auto& tb = std::get<mir::basic_multipass_accumulator<double>>(b.typed());
    while (!a.done()) {
        replay(a, data, 0, 9, true);
        replay(b, data, 9, data.size(), true);
        for (std::size_t i = 0; i < ta.states().size(); ++i) {
            auto& sa = ta.states()[i];
            if (sa.done()) continue;
            const std::vector<std::byte> ba = mir::state_to_bytes(sa), bb = mir::state_to_bytes(tb.states()[i]);
            mir::layer_passes<double> m(D, sa.policy(), sa.layer()), other(D, sa.policy(), sa.layer());
            mir::state_from_bytes(m, ba, "participant 0");
            mir::state_from_bytes(other, bb, "participant 1");
            m.merge(other);
            sa = m;
            tb.states()[i] = m;
        }
        // Half way, `a` is rebuilt from its bytes alone (a state_dict saved and loaded).
        if (a.pass() == 2) {
            std::vector<mir::layer_passes<double>> restored;
            for (auto& st : ta.states()) {
                restored.emplace_back(D, st.policy(), st.layer());
                mir::state_from_bytes(restored.back(), mir::state_to_bytes(st), "restored");
            }
            mir::multipass_accumulator fresh(K1, D);
            std::get<mir::basic_multipass_accumulator<double>>(fresh.typed()).restore(a.pass(), std::move(restored));
            a = std::move(fresh);
        }
        a.end_pass();
        b.end_pass();
    }
    same(a.result(), one_pass(data, mir::outlier_policy::replace_median, true));
    CHECK(a.result().mir == b.result().mir);
    CHECK(a.layer_seconds().size() == 3);

    // Damaged, short or foreign bytes are errors naming where, never a crash.
    mir::multipass_accumulator c(K1, D);
    replay(c, data, 0, 4, true);
    auto& st = std::get<mir::basic_multipass_accumulator<double>>(c.typed()).states()[0];
    std::vector<std::byte> bytes = mir::state_to_bytes(st);
    mir::layer_passes<double> target(D, st.policy(), st.layer());
    const std::vector<std::byte> shorter(bytes.begin(), bytes.end() - 3);
    CHECK_THROWS_WITH(mir::state_from_bytes(target, shorter, "layer 1 from rank 3"),
                      Catch::Contains("layer 1 from rank 3") && Catch::Contains("bytes left"));
    std::vector<std::byte> longer = bytes;
    longer.push_back(std::byte{0});
    mir::layer_passes<double> target2(D, st.policy(), st.layer());
    CHECK_THROWS_WITH(mir::state_from_bytes(target2, longer, "x"), Catch::Contains("do not end where"));
    mir::layer_passes<double> wide(D + 1, st.policy(), st.layer());
    CHECK_THROWS_AS(mir::state_from_bytes(wide, bytes, "wider"), mir::argument_error);
    mir::basic_multipass_accumulator<double> e(K1, D);
    std::vector<mir::layer_passes<double>> wrong;
    for (int k = 1; k < K1; ++k) wrong.emplace_back(D, mir::outlier_policy::drop, k);
    CHECK_THROWS_WITH(e.restore(1, std::move(wrong)), Catch::Contains("policy drop"));
}

TEST_CASE("multipass_accumulator takes strided tensors", "[multipass_accumulator]") {
    const auto data = make_samples(20, 3);
    // Every sample's rows as a column-major copy: columns not unit-stride, copied block by block.
    std::vector<std::vector<std::vector<float>>> colmajor(data.size());
    for (std::size_t i = 0; i < data.size(); ++i) {
        for (int k = 0; k < K1; ++k) {
            const auto& r = data[i].layers[static_cast<std::size_t>(k)];
            std::vector<float> c(r.size());
            for (mir::index_t t = 0; t < data[i].tokens; ++t) {
                for (mir::index_t j = 0; j < D; ++j) {
                    c[static_cast<std::size_t>(j * data[i].tokens + t)] = r[static_cast<std::size_t>(t * D + j)];
                }
            }
            colmajor[i].push_back(std::move(c));
        }
    }
    mir::multipass_accumulator acc(K1, D);
    while (!acc.done()) {
        for (std::size_t i = 0; i < data.size(); ++i) {
            for (int k = 0; k < K1; ++k) {
                const mir::strided_rows<float> r{colmajor[i][static_cast<std::size_t>(k)].data(), data[i].tokens, D, 1,
                                                 data[i].tokens};
                acc.add(k, r, std::span<const std::uint8_t>(data[i].vision));
            }
        }
        acc.end_pass();
    }
    same(acc.result(), one_pass(data, mir::outlier_policy::replace_median, false));
}

TEST_CASE("multipass_accumulator refuses what would be wrong", "[multipass_accumulator]") {
    const auto data = make_samples(6, 5);
    mir::multipass_accumulator acc(K1, D);
    const sample& s = data[0];
    const mir::row_view<float> rows(s.layers[1].data(), s.tokens, D);
    const std::vector<std::uint8_t> short_mask(static_cast<std::size_t>(s.tokens - 1), 0);
    CHECK_THROWS_WITH(acc.add(1, rows, std::span<const std::uint8_t>(short_mask)),
                      Catch::Contains("entries for " + std::to_string(s.tokens) + " tokens"));
    const mir::row_view<float> narrow(s.layers[1].data(), s.tokens, D - 1);
    CHECK_THROWS_WITH(acc.add(1, narrow, std::span<const std::uint8_t>(s.vision)), Catch::Contains("hidden size 11"));
    CHECK_THROWS_WITH(acc.add(K1, rows, std::span<const std::uint8_t>(s.vision)), Catch::Contains("outside 0..3"));
    std::vector<std::uint8_t> both = s.text;
    both[2] = 1;  // token 2 is a vision token too
    CHECK_THROWS_AS(acc.add(1, rows, std::span<const std::uint8_t>(s.vision), std::span<const std::uint8_t>(both)),
                    mir::argument_error);
    replay(acc, data, 0, data.size(), false);
    CHECK_THROWS_WITH(acc.result(), Catch::Contains("pass 1 of 2 is in progress"));
    acc.end_pass();
    replay(acc, data, 0, 3, false);  // pass 2 with half the rows: the layer's counts disagree with pass 1
    CHECK_THROWS(acc.end_pass());
}
