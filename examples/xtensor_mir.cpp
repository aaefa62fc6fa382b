// examples/xtensor_mir.cpp — MIR from xtensor arrays (docs/adapters.md).
//
// A stand-in for a model that keeps its hidden states in xtensor: each
// sample's states are one xt::xtensor<float, 3> [K+1, T, d]; each layer is
// handed to the sink as an xt::view (a strided view, read in place — no
// copy). The vision positions come as a mask, as in the dump files.
#include <mir/adapters/xtensor.hpp>
#include <mir/mir.hpp>

#include <xtensor/xrandom.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

int main() {
    const std::size_t indices = 7, dim = 32;  // K = 6 decoder layers
    xt::random::seed(7);
    mir::hidden_state_sink sink(static_cast<int>(indices), static_cast<mir::index_t>(dim));
    for (int sample = 0; sample < 5; ++sample) {
        const std::size_t tokens = 60 + 10 * static_cast<std::size_t>(sample);
        std::vector<std::uint8_t> mask(tokens, 0);
        for (std::size_t t = 4; t < 4 + 36; ++t) mask[t] = 1;  // 36 image tokens after a 4-token prompt

        xt::xtensor<float, 3> hidden = xt::random::randn<float>({indices, tokens, dim});
        for (std::size_t k = 0; k < indices; ++k) {
            const float gap = 3.0f / static_cast<float>(1 + k);
            for (std::size_t t = 0; t < tokens; ++t) {
                if (mask[t]) xt::view(hidden, k, t, xt::all()) += gap;
            }
        }

        sink.begin_sample(mir::vision_positions::from_mask(mask));
        for (std::size_t k = 0; k < indices; ++k) {
            auto layer = xt::view(hidden, k, xt::all(), xt::all());  // [T, d], in place
            sink.push(static_cast<int>(k), layer);
        }
        sink.end_sample();
    }
    const mir::mir_result r = sink.finalize();
    for (const auto& l : r.layers) std::printf("  layer %d  FID %.6f\n", l.layer, l.fid);
    std::printf("MIR = %.6f over %td samples\n", r.mir, sink.samples());
    return std::isfinite(r.mir) ? 0 : 1;
}
