// tests/adapters/fixture.hpp — samples of hidden states in every element type
// and the reference: the multi-layer accumulator fed contiguous row_views
// (the raw view) of the same values. An adapter is right when the sink fed
// through it gives exactly (bitwise) the reference's numbers.
#pragma once

#include <catch2/catch.hpp>

#include <mir/mir.hpp>
#include <mir/source/sink.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace mir_test {

template <mir::element T>
struct sample_values {
    int indices = 0;                // K + 1
    mir::index_t tokens = 0, d = 0;
    std::vector<T> hidden;          // [K+1, tokens, d], row-major
    std::vector<std::uint8_t> mask; // [tokens]

    [[nodiscard]] const T* layer(int k) const { return hidden.data() + static_cast<std::ptrdiff_t>(k) * tokens * d; }
    [[nodiscard]] T at(int k, mir::index_t t, mir::index_t j) const { return layer(k)[t * d + j]; }
};

/// Gaussian rows with a per-layer, per-modality shift and scale (so FIDs are
/// far from zero), rounded to T; a few samples of different lengths, the
/// vision tokens in two blocks.
template <mir::element T>
std::vector<sample_values<T>> make_samples(unsigned seed, int indices = 4, mir::index_t d = 12,
                                           std::vector<mir::index_t> lengths = {70, 53, 91}) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> n01;
    std::vector<sample_values<T>> out;
    for (mir::index_t tokens : lengths) {
        sample_values<T> s;
        s.indices = indices;
        s.tokens = tokens;
        s.d = d;
        s.mask.assign(static_cast<std::size_t>(tokens), 0);
        for (mir::index_t t = 3; t < tokens / 2; ++t) s.mask[static_cast<std::size_t>(t)] = 1;
        for (mir::index_t t = tokens - 6; t < tokens - 2; ++t) s.mask[static_cast<std::size_t>(t)] = 1;
        s.hidden.resize(static_cast<std::size_t>(indices * tokens * d));
        for (int k = 0; k < indices; ++k) {
            for (mir::index_t t = 0; t < tokens; ++t) {
                const bool v = s.mask[static_cast<std::size_t>(t)] != 0;
                for (mir::index_t j = 0; j < d; ++j) {
                    const double x = (v ? 1.5 + 0.1 * k : 0.7) * n01(gen) + (v ? 0.3 * (j % 3) : -0.2);
                    s.hidden[static_cast<std::size_t>((k * tokens + t) * d + j)] = static_cast<T>(x);
                }
            }
        }
        out.push_back(std::move(s));
    }
    return out;
}

/// The reference: mir_accumulator fed contiguous row_views with the mask.
template <mir::element T>
mir::mir_result reference_mir(const std::vector<sample_values<T>>& ss, const mir::accumulator_options& o = {}) {
    mir::mir_accumulator acc(ss.front().indices, ss.front().d, o);
    for (const auto& s : ss) {
        for (int k = 0; k < s.indices; ++k) {
            acc.add(k, mir::row_view<T>(s.layer(k), s.tokens, s.d), std::span<const std::uint8_t>(s.mask));
        }
    }
    return acc.finalize();
}

/// The sink fed, layer by layer, whatever make(sample, k) returns.
template <mir::element T, class Make>
mir::mir_result sink_mir(const std::vector<sample_values<T>>& ss, Make&& make, const mir::accumulator_options& o = {}) {
    mir::hidden_state_sink sink(ss.front().indices, ss.front().d, o);
    for (const auto& s : ss) {
        sink.begin_sample(mir::vision_positions::from_mask(s.mask));
        for (int k = 0; k < s.indices; ++k) sink.push(k, make(s, k));
        sink.end_sample();
    }
    return sink.finalize();
}

inline void require_identical(const mir::mir_result& a, const mir::mir_result& b) {
    REQUIRE(a.layers.size() == b.layers.size());
    for (std::size_t i = 0; i < a.layers.size(); ++i) {
        INFO("layer " << a.layers[i].layer);
        REQUIRE(a.layers[i].layer == b.layers[i].layer);
        REQUIRE(a.layers[i].fid == b.layers[i].fid);
        REQUIRE(a.layers[i].alpha == b.layers[i].alpha);
    }
    REQUIRE(a.mir == b.mir);
    REQUIRE(std::isfinite(a.mir));
}

/// The sink fed by make(sample, k) gives bitwise the raw views' MIR.
template <mir::element T, class Make>
void require_same_as_raw(const std::vector<sample_values<T>>& ss, Make&& make) {
    require_identical(sink_mir(ss, std::forward<Make>(make)), reference_mir(ss));
}

inline double max_rel_fid_diff(const mir::mir_result& a, const mir::mir_result& b) {
    REQUIRE(a.layers.size() == b.layers.size());
    double worst = 0.0;
    for (std::size_t i = 0; i < a.layers.size(); ++i) {
        worst = std::max(worst, std::abs(a.layers[i].fid - b.layers[i].fid) / std::abs(b.layers[i].fid));
    }
    return worst;
}

/// Largest per-layer FID difference relative to the size of the FID's terms
/// (‖Δμ‖² + Tr Σv + Tr Σt): the rounding scale of a FID that is a small
/// difference of large terms, where a difference relative to the FID itself
/// measures cancellation, not agreement.
inline double max_fid_diff_vs_terms(const mir::mir_result& a, const mir::mir_result& b) {
    REQUIRE(a.layers.size() == b.layers.size());
    double worst = 0.0;
    for (std::size_t i = 0; i < a.layers.size(); ++i) {
        const auto& t = b.layers[i].terms;
        const double scale = std::abs(t.mean_term) + std::abs(t.trace_1) + std::abs(t.trace_2);
        worst = std::max(worst, std::abs(a.layers[i].fid - b.layers[i].fid) / scale);
    }
    return worst;
}

/// Whether every block fn sees points into [lo, hi) (in place) — checked by
/// for_each_row_block on the adapted rows.
template <class X>
bool views_in_place(const X& x, const void* lo, const void* hi) {
    bool inside = true;
    mir::visit_rows(x, [&](const auto& r) {
        mir::for_each_row_block(r, [&](const auto& block, mir::index_t) {
            const auto* p = reinterpret_cast<const char*>(block.data);
            inside = inside && p >= static_cast<const char*>(lo) && p < static_cast<const char*>(hi);
        });
    });
    return inside;
}

}  // namespace mir_test
