// mir/source/source.hpp — the minimal interface a model integration
// implements to be measured: how many hidden-state indices (K + 1, index 0 =
// embeddings), the hidden size, how many samples, and, sample by sample,
// each layer's rows with the vision positions, pushed into a sink.
//
//     struct my_model_source {
//         int num_indices() const;            // K + 1
//         mir::index_t hidden_size() const;   // d
//         mir::index_t num_samples() const;
//         void feed_sample(mir::index_t n, mir::hidden_state_sink& sink);
//             // sink.begin_sample(positions); sink.push(k, rows) for each k;
//             // sink.end_sample();
//     };
//     mir::mir_result r = mir::compute_mir(source, options);
//
// The dump files of SPEC §6 are one such source (mir/source/dump_source.hpp); a
// live model is another (its forward hooks call sink.push directly).
#pragma once

#include <concepts>
#include <type_traits>

#include "mir/element.hpp"
#include "mir/metric/accumulator.hpp"
#include "mir/metric/mir.hpp"
#include "mir/source/sink.hpp"

namespace mir {

template <class S>
concept hidden_state_source = requires(S& s, const S& cs, hidden_state_sink& sink, index_t n) {
    { cs.num_indices() } -> std::convertible_to<int>;
    { cs.hidden_size() } -> std::convertible_to<index_t>;
    { cs.num_samples() } -> std::convertible_to<index_t>;
    s.feed_sample(n, sink);
};

/// Feeds every sample of `source` through a hidden_state_sink and returns
/// MIR over the chosen layers (accumulator_options::layers, default 1..K).
template <class S>
    requires hidden_state_source<std::remove_cvref_t<S>>
[[nodiscard]] mir_result compute_mir(S&& source, const accumulator_options& opt = {}) {
    hidden_state_sink sink(static_cast<int>(source.num_indices()), static_cast<index_t>(source.hidden_size()), opt);
    const auto n = static_cast<index_t>(source.num_samples());
    for (index_t i = 0; i < n; ++i) source.feed_sample(i, sink);
    return sink.finalize();
}

}  // namespace mir
