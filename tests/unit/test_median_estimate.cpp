// replace-median in bounded memory: how far the reservoir estimate of the
// per-dimension median moves FID on the golden dumps (docs/api.md quotes
// these figures; run `mir_tests "[median-estimate]" -s` to print them).
#include <catch2/catch.hpp>

#include <mir/mir.hpp>

#include <cmath>
#include <string>

#include "../support/golden.hpp"

namespace {

template <class T>
mir::mir_result run(const mir_test::dump<T>& g, mir::median_mode mode, mir::index_t reservoir) {
    mir::accumulator_options o;
    o.median = mode;
    o.reservoir_rows = reservoir;
    mir::mir_accumulator acc(g.indices, g.d, o);
    for (const auto& s : g.samples) {
        for (int k = 0; k < g.indices; ++k) acc.add(k, s.layer(k, g.d), std::span<const std::uint8_t>(s.mask));
    }
    return acc.finalize();
}

template <class T>
void measure(const std::string& name) {
    const auto g = mir_test::read_dump<T>(name);
    const auto exact = run(g, mir::median_mode::keep_rows, 0);
    REQUIRE(exact.exact());
    for (mir::index_t m : {16, 32, 64, 128}) {
        const auto est = run(g, mir::median_mode::reservoir, m);
        double worst = 0.0;
        for (std::size_t i = 0; i < est.layers.size(); ++i) {
            worst = std::max(worst, std::abs(est.layers[i].fid - exact.layers[i].fid) / exact.layers[i].fid);
        }
        const double dmir = std::abs(est.mir - exact.mir);
        WARN(name << ": reservoir " << m << " rows: max per-layer FID rel. diff " << worst << ", |ΔMIR| " << dmir
                  << (est.exact() ? " (exact: all rows fit)" : ""));
        // Only the replaced rows (a few per layer) move, by the median error.
        CHECK(worst <= 5e-3);
        CHECK(dmir <= 1e-3);
    }
}

}  // namespace

TEST_CASE("reservoir median estimate: deviation from the exact replace-median on golden dumps",
          "[median-estimate]") {
    measure<mir::half>("f16_small");
    measure<mir::bfloat16>("bf16_small");
    measure<float>("f32_wide");
}
