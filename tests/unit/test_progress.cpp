// Progress reports (mir/progress.hpp): what the multipass layer and the
// iterative square roots tell a callback, and that telling changes nothing.
#include <catch2/catch.hpp>

#include <mir/mir.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace {

// Rows with a few far outliers, so that replace-median needs an exact median
// (float rows: 4 passes in all) and the 3σ rule has something to do.
std::vector<float> rows_with_outliers(mir::index_t n, mir::index_t d, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<float> v(static_cast<std::size_t>(n * d));
    for (auto& x : v) x = g(rng);
    for (mir::index_t i = 0; i < n; i += 37) {
        for (mir::index_t j = 0; j < d; ++j) v[static_cast<std::size_t>(i * d + j)] *= 40.0f;
    }
    return v;
}

struct fixture {
    static constexpr mir::index_t d = 6;
    std::vector<float> vis = rows_with_outliers(300, d, 1), txt = rows_with_outliers(200, d, 2);
    // Three chunks per modality per pass, as three files would give.
    void replay(const auto& sink) const {
        for (int part = 0; part < 3; ++part) {
            sink(true, mir::row_view<float>(vis.data() + part * 100 * d, 100, d));
            const mir::index_t t0 = part * 67, tn = part == 2 ? 200 - 134 : 67;
            sink(false, mir::row_view<float>(txt.data() + t0 * d, tn, d));
        }
    }
    static constexpr mir::index_t rows = 500;
};

}  // namespace

TEST_CASE("the multipass layer reports every chunk of every pass, then the square root", "[progress][multipass]") {
    const fixture f;
    std::vector<mir::progress_event> events;
    mir::layer_options opt;
    opt.layer = 7;
    opt.progress = [&](const mir::progress_event& e) { events.push_back(e); };
    mir::multipass_info info;
    const auto with = mir::compute_layer_multipass([&](auto&& sink) { f.replay(sink); }, fixture::d, opt, &info);
    REQUIRE(info.passes == 4);  // float rows with outliers under replace-median

    mir::layer_options quiet = opt;
    quiet.progress = nullptr;
    const auto without = mir::compute_layer_multipass([&](auto&& sink) { f.replay(sink); }, fixture::d, quiet);
    CHECK(with.fid == without.fid);  // reporting changes nothing
    CHECK(with.vision.outliers == without.vision.outliers);
    CHECK(with.vision.outliers > 0);

    REQUIRE(!events.empty());
    int last_pass = 0, last_passes = 0;
    mir::index_t last_rows = 0;
    std::size_t chunks = 0;
    bool seen_sqrt = false;
    for (const auto& e : events) {
        INFO("pass " << e.pass << " rows " << e.rows << " stage " << to_string(e.stage));
        CHECK(e.layer == 7);
        if (e.stage == mir::progress_stage::square_root) {  // no pass: the rows are done
            seen_sqrt = true;
            continue;
        }
        CHECK(e.passes >= last_passes);  // the expected count only grows
        last_passes = e.passes;
        CHECK_FALSE(seen_sqrt);  // the square root comes after every pass
        if (e.pass != last_pass) {
            CHECK(e.pass == last_pass + 1);
            if (last_pass > 0) CHECK(last_rows == fixture::rows);  // the previous pass ended whole
            last_rows = 0;
            last_pass = e.pass;
        }
        CHECK(e.rows > last_rows);
        last_rows = e.rows;
        ++chunks;
        const auto want = e.pass == 1   ? mir::progress_stage::norms
                          : e.pass == 2 ? mir::progress_stage::moments
                                        : mir::progress_stage::median;
        CHECK(e.stage == want);
        CHECK(e.rows_per_pass == (e.pass == 1 ? 0 : fixture::rows));
        if (e.pass >= 2) CHECK(e.passes == info.passes);  // known exactly once pass 1 has ended
        CHECK(e.passes >= e.pass);
    }
    CHECK(last_pass == info.passes);
    CHECK(last_rows == fixture::rows);
    CHECK(chunks == static_cast<std::size_t>(6 * info.passes));
    CHECK(seen_sqrt);
    CHECK(events.front().passes == 2);  // before pass 1 ends: the two passes every layer needs
}

TEST_CASE("an iterative square root reports each iteration with its residual", "[progress][sqrt]") {
    const fixture f;
    for (auto method : {mir::sqrt_method::newton_schulz, mir::sqrt_method::denman_beavers}) {
        INFO(to_string(method));
        std::vector<mir::progress_event> sqrt_events;
        mir::layer_options opt;
        opt.layer = 3;
        opt.sqrt = method;
        opt.progress = [&](const mir::progress_event& e) {
            if (e.stage == mir::progress_stage::square_root) sqrt_events.push_back(e);
        };
        const auto r = mir::compute_layer_multipass([&](auto&& sink) { f.replay(sink); }, fixture::d, opt);
        REQUIRE(r.terms.sqrt_iterations > 0);
        // One report when it starts, then one per residual check (iterations 0..n).
        REQUIRE(sqrt_events.size() == static_cast<std::size_t>(r.terms.sqrt_iterations) + 2);
        CHECK(sqrt_events.front().iteration == 0);
        for (std::size_t i = 1; i < sqrt_events.size(); ++i) {
            CHECK(sqrt_events[i].layer == 3);
            CHECK(sqrt_events[i].iteration == static_cast<int>(i) - 1);
            CHECK(std::isfinite(sqrt_events[i].residual));
        }
        double smallest = sqrt_events[1].residual;
        for (const auto& e : sqrt_events) {
            if (e.iteration > 0) smallest = std::min(smallest, e.residual);
        }
        CHECK(r.terms.sqrt_outcome == mir::sqrt_status::converged);
        CHECK(smallest <= 1e-10);  // the default tolerance: the reports show it being reached
    }
}

TEST_CASE("sqrt_options::progress reaches the square root without layer_options", "[progress][sqrt]") {
    const fixture f;
    int iterations = 0;
    mir::sqrt_options s = mir::sqrt_method::newton_schulz;
    s.progress = [&](const mir::progress_event& e) { iterations = std::max(iterations, e.iteration); };
    mir::layer_options opt;
    opt.sqrt = s;
    const auto r = mir::compute_layer_multipass([&](auto&& sink) { f.replay(sink); }, fixture::d, opt);
    CHECK(iterations == r.terms.sqrt_iterations);
}

TEST_CASE("the streaming accumulator and the sink report every add, then each layer's finalize and square root",
          "[progress][accumulator][sink]") {
    constexpr int indices = 3;
    constexpr mir::index_t d = fixture::d, tokens = 50;
    // Three samples of 50 tokens, the first 20 vision; each hidden-state index its own rows.
    std::vector<std::vector<float>> samples;
    for (unsigned s = 0; s < 3; ++s) samples.push_back(rows_with_outliers(indices * tokens, d, 10 + s));
    std::vector<std::uint8_t> mask(tokens, 0);
    std::fill(mask.begin(), mask.begin() + 20, 1);
    const auto rows_of = [&](std::size_t s, int k) {
        return mir::row_view<float>(samples[s].data() + static_cast<std::size_t>(k) * tokens * d, tokens, d);
    };
    for (auto method : {mir::sqrt_method::exact, mir::sqrt_method::newton_schulz}) {
        INFO(to_string(method));
        std::vector<mir::progress_event> events, sink_events;
        mir::accumulator_options opt;
        opt.sqrt = method;
        opt.progress = [&](const mir::progress_event& e) { events.push_back(e); };
        mir::accumulator_options quiet = opt, to_sink = opt;
        quiet.progress = nullptr;
        to_sink.progress = [&](const mir::progress_event& e) { sink_events.push_back(e); };
        mir::mir_accumulator acc(indices, d, opt), plain(indices, d, quiet);
        mir::hidden_state_sink sink(indices, d, to_sink);
        for (std::size_t s = 0; s < samples.size(); ++s) {
            sink.begin_sample(mir::vision_positions::from_mask(mask));
            for (int k = 0; k < indices; ++k) {
                acc.add(k, rows_of(s, k), std::span<const std::uint8_t>(mask));
                plain.add(k, rows_of(s, k), std::span<const std::uint8_t>(mask));
                sink.push(k, rows_of(s, k));
            }
            sink.end_sample();
        }
        // The adds: index 0 is not among the default layers (1..K), so only 1 and 2 report, with the
        // layer's rows so far; the accumulator once per add(), the sink once per run of one modality.
        for (const auto* list : {&events, &sink_events}) {
            std::vector<mir::index_t> last(indices, 0);
            for (const auto& e : *list) {
                REQUIRE(e.stage == mir::progress_stage::moments);
                REQUIRE((e.layer == 1 || e.layer == 2));
                CHECK((e.pass == 1 && e.passes == 1));
                CHECK(e.rows > last[static_cast<std::size_t>(e.layer)]);  // never backwards, never repeated
                last[static_cast<std::size_t>(e.layer)] = e.rows;
            }
            CHECK(last[1] == 3 * tokens);
            CHECK(last[2] == 3 * tokens);
        }
        CHECK(events.size() == 2 * 3);           // 2 layers x 3 samples
        CHECK(sink_events.size() == 2 * 3 * 2);  // x 2 runs (vision, text)

        events.clear();
        const mir::mir_result r = acc.finalize();
        // Per layer, in order: finalize (all its rows), then the square root's start and its iterations.
        REQUIRE(!events.empty());
        int layer = 0;
        for (const auto& e : events) {
            if (e.stage == mir::progress_stage::finalize) {
                CHECK(e.layer == layer + 1);
                layer = e.layer;
                CHECK(e.rows == 3 * tokens);
            } else {
                REQUIRE(e.stage == mir::progress_stage::square_root);
                CHECK(e.layer == layer);
            }
        }
        CHECK(layer == 2);
        const auto finals = std::count_if(events.begin(), events.end(), [](const mir::progress_event& e) {
            return e.stage == mir::progress_stage::finalize;
        });
        CHECK(finals == 2);
        int most = 0;
        for (const auto& e : events) most = std::max(most, e.iteration);
        if (method == mir::sqrt_method::newton_schulz) {
            CHECK(most == r.layers.back().terms.sqrt_iterations);
            CHECK(most > 0);
        } else {
            CHECK(most == 0);  // a direct method reports only its start
        }
        // Reporting changes nothing; the sink reports its finalize too.
        const mir::mir_result p = plain.finalize();
        CHECK(r.mir == p.mir);
        sink_events.clear();
        CHECK(sink.finalize().mir == p.mir);
        CHECK(std::count_if(sink_events.begin(), sink_events.end(), [](const mir::progress_event& e) {
                  return e.stage == mir::progress_stage::finalize;
              }) == 2);
    }
}
