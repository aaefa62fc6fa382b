// mir/metric/multipass.hpp — one layer, exact, in memory that does not grow
// with the number of rows (beyond one norm per row), from a source that can
// present the layer's rows more than once (files, in-memory tensors): the
// replayed statistics of mir/stats/layer_passes.hpp, then the Fréchet
// layer. The result equals compute_layer on the concatenated rows (same
// pipeline, same rounding up to the order of accumulation).
#pragma once

#include "mir/element.hpp"
#include "mir/metric/layer.hpp"
#include "mir/stats/layer_passes.hpp"

namespace mir {

/// One layer from a replayable source. `replay(sink)` must call
/// `sink(is_vision, rows)` (rows: any row_view<T>) for every row of the
/// layer, presenting the same rows in the same order on every call.
template <accumulator_type Acc = double, class Replay>
[[nodiscard]] layer_result compute_layer_multipass(Replay&& replay, index_t dim, const layer_options& opt = {},
                                                   multipass_info* info = nullptr) {
    return compute_layer(compute_layer_statistics_multipass<Acc>(replay, dim, opt.policy, opt.layer, info,
                                                                 opt.progress),
                         opt.sqrt_with_progress());
}

}  // namespace mir
