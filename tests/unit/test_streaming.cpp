// The multi-layer accumulator fed sample by sample: exact for none and
// drop in bounded memory; replace-median exact with keep_rows, an
// estimate (and said so) with a bounded reservoir.
#include <catch2/catch.hpp>

#include <mir/mir.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "../support/random.hpp"

namespace {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// A synthetic sample: `layers` hidden-state indices of `tokens` rows,
/// the first `vis` rows vision; a few massive rows.
struct sample {
    std::vector<float> hidden;  // [layers, tokens, d]
    std::vector<std::uint8_t> mask;
    mir::index_t tokens;
};

sample make_sample(int layers, mir::index_t d, mir::index_t vis, mir::index_t txt, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> g(0.0f, 1.0f);
    sample s;
    s.tokens = vis + txt;
    s.hidden.resize(static_cast<std::size_t>(layers * s.tokens * d));
    s.mask.assign(static_cast<std::size_t>(s.tokens), 0);
    for (mir::index_t i = 0; i < vis; ++i) s.mask[static_cast<std::size_t>((i * 7) % s.tokens)] = 1;
    for (int k = 0; k < layers; ++k) {
        for (mir::index_t t = 0; t < s.tokens; ++t) {
            const bool v = s.mask[static_cast<std::size_t>(t)] != 0;
            for (mir::index_t j = 0; j < d; ++j) {
                float x = g(rng) * (v ? 2.0f : 1.0f) + (v ? 0.5f : 0.0f) + 0.1f * static_cast<float>(j % 5);
                if (t == 3 && j == k) x += 300.0f;  // massive activation
                s.hidden[static_cast<std::size_t>((k * s.tokens + t) * d + j)] = x;
            }
        }
    }
    return s;
}

/// Concatenated rows of one layer and modality, for the per-layer API.
std::vector<float> gather(const std::vector<sample>& ss, int k, mir::index_t d, bool vision, mir::index_t& n) {
    std::vector<float> out;
    n = 0;
    for (const auto& s : ss) {
        for (mir::index_t t = 0; t < s.tokens; ++t) {
            if ((s.mask[static_cast<std::size_t>(t)] != 0) != vision) continue;
            const float* r = s.hidden.data() + (k * s.tokens + t) * d;
            out.insert(out.end(), r, r + d);
            ++n;
        }
    }
    return out;
}

mir::mir_result feed(const std::vector<sample>& ss, int layers, mir::index_t d, const mir::accumulator_options& o,
                     mir::index_t* buffered = nullptr) {
    mir::mir_accumulator acc(layers, d, o);
    for (const auto& s : ss) {
        for (int k = 0; k < layers; ++k) {
            acc.add(k, mir::row_view<float>(s.hidden.data() + k * s.tokens * d, s.tokens, d),
                    std::span<const std::uint8_t>(s.mask));
        }
    }
    if (buffered) *buffered = acc.buffered_rows();
    return acc.finalize();
}

}  // namespace

TEST_CASE("accumulator equals the per-layer API to 1e-12 under none and drop", "[streaming]") {
    const int layers = 3;
    const mir::index_t d = 24;
    std::vector<sample> ss;
    for (unsigned i = 0; i < 12; ++i) ss.push_back(make_sample(layers, d, 10, 15 + i, 100 + i));
    for (auto p : {mir::outlier_policy::none, mir::outlier_policy::drop, mir::outlier_policy::replace_median}) {
        mir::accumulator_options o;
        o.policy = p;
        const auto r = feed(ss, layers, d, o);
        REQUIRE(r.layers.size() == 2);
        CHECK(r.exact());
        for (const auto& l : r.layers) {
            mir::index_t nv = 0, nt = 0;
            const auto v = gather(ss, l.layer, d, true, nv), t = gather(ss, l.layer, d, false, nt);
            mir::layer_options lo;
            lo.policy = p;
            const auto ref =
                mir::compute_layer(mir::row_view<float>(v.data(), nv, d), mir::row_view<float>(t.data(), nt, d), lo);
            INFO(mir::to_string(p) << " layer " << l.layer);
            // Relative to the terms FID is the difference of (massive rows).
            const double scale = ref.terms.mean_term + ref.terms.trace_1 + ref.terms.trace_2;
            CHECK(std::abs(l.fid - ref.fid) <= 1e-12 * scale);
            CHECK(std::abs(l.terms.trace_sqrt - ref.terms.trace_sqrt) <= 1e-12 * ref.terms.trace_sqrt);
            CHECK(l.vision.outliers == ref.vision.outliers);
            CHECK(l.text.outliers == ref.text.outliers);
            CHECK(l.vision.rows == ref.vision.rows);
            CHECK(l.alpha == ref.alpha);
        }
    }
}

TEST_CASE("accumulator memory under none and drop does not grow with the samples", "[streaming]") {
    const int layers = 2;
    const mir::index_t d = 8;
    for (auto p : {mir::outlier_policy::none, mir::outlier_policy::drop}) {
        mir::accumulator_options o;
        o.policy = p;
        o.layers = {1};
        std::vector<sample> few, many;
        for (unsigned i = 0; i < 10; ++i) few.push_back(make_sample(layers, d, 6, 10, 200 + i));
        for (unsigned i = 0; i < 200; ++i) many.push_back(make_sample(layers, d, 6, 10, 200 + i));
        mir::index_t b_few = 0, b_many = 0;
        feed(few, layers, d, o, &b_few);
        const auto r = feed(many, layers, d, o, &b_many);
        INFO(mir::to_string(p) << ": buffered rows " << b_few << " (10 samples) vs " << b_many << " (200 samples)");
        CHECK(r.exact());
        // 200 samples hold 3200 rows; only the tails may stay buffered.
        if (p == mir::outlier_policy::none) CHECK(b_many == 0);
        CHECK(b_many <= 2 * (2 * 64 + 2 * (r.layers[0].vision.outliers + r.layers[0].text.outliers) + 40));
    }
}

TEST_CASE("replace-median with a bounded reservoir says when it estimated", "[streaming]") {
    const int layers = 2;
    const mir::index_t d = 8;
    std::vector<sample> ss;
    for (unsigned i = 0; i < 40; ++i) ss.push_back(make_sample(layers, d, 6, 10, 300 + i));
    mir::accumulator_options exact;
    exact.layers = {1};
    const auto ref = feed(ss, layers, d, exact);
    CHECK(ref.exact());

    mir::accumulator_options big = exact;
    big.median = mir::median_mode::reservoir;
    big.reservoir_rows = 10000;  // more than the rows: still exact
    const auto r_big = feed(ss, layers, d, big);
    CHECK(r_big.exact());
    CHECK(std::abs(r_big.layers[0].fid - ref.layers[0].fid) <= 1e-12 * ref.layers[0].fid);

    mir::accumulator_options small = exact;
    small.median = mir::median_mode::reservoir;
    small.reservoir_rows = 64;
    const auto r_small = feed(ss, layers, d, small);
    CHECK_FALSE(r_small.exact());
    CHECK_FALSE(r_small.layers[0].exact);
    // An estimate of the median moves only the few replaced rows.
    CHECK(std::abs(r_small.layers[0].fid - ref.layers[0].fid) <= 0.05 * ref.layers[0].fid);
}

TEST_CASE("accumulator: layers, masks and errors", "[streaming][errors]") {
    const mir::index_t d = 4;
    mir::accumulator_options o;
    mir::mir_accumulator acc(3, d, o);
    CHECK(acc.layers() == std::vector<int>{1, 2});
    CHECK_FALSE(acc.wants(0));
    const std::vector<float> rows(5 * d, 1.0f);
    const std::vector<std::uint8_t> short_mask(4, 1);
    CHECK_THROWS_WITH(acc.add(1, mir::row_view<float>(rows.data(), 5, d), std::span<const std::uint8_t>(short_mask)),
                      Catch::Contains("layer 1") && Catch::Contains("mask has 4 entries for 5 tokens"));
    CHECK_THROWS_AS(acc.add(7, mir::row_view<float>(rows.data(), 5, d), mir::row_view<float>(rows.data(), 5, d)),
                    mir::argument_error);
    const std::vector<float> wrong(5 * 3, 1.0f);
    CHECK_THROWS_WITH(acc.add(1, mir::row_view<float>(wrong.data(), 5, 3), mir::row_view<float>(rows.data(), 5, d)),
                      Catch::Contains("hidden size 4"));
    mir::accumulator_options bad;
    bad.layers = {0, 5};
    CHECK_THROWS_AS(mir::mir_accumulator(3, d, bad), mir::argument_error);
    // No rows at all for a chosen layer.
    CHECK_THROWS_WITH(acc.finalize(), Catch::Contains("layer 1") && Catch::Contains("vision"));
}
