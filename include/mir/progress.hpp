// mir/progress.hpp — progress of a long computation, reported to a callback.
//
// The multipass layer computation (compute_layer_multipass, through
// layer_options::progress), the streaming accumulator and the sink (through
// accumulator_options::progress) and the iterative square roots (through
// sqrt_options::progress) call a progress_callback as they go: after every
// chunk of rows a pass takes in (every add() of the accumulator), when an
// accumulated layer is turned into statistics, and after every iteration of
// a square root.
// The callback runs on the computing thread, synchronously, so it must be
// cheap and, when layers run on several threads, thread-safe; it is called
// only when set (an empty callback costs one branch per chunk).
//
//   mir::layer_options o;
//   o.progress = [](const mir::progress_event& e) {
//       std::fprintf(stderr, "layer %d %s pass %d/%d: %lld rows\n", e.layer,
//                    std::string(to_string(e.stage)).c_str(), e.pass, e.passes, (long long)e.rows);
//   };
#pragma once

#include <functional>
#include <string_view>

#include "mir/element.hpp"

namespace mir {

/// What a computation is doing when it reports.
enum class progress_stage {
    norms,        ///< pass 1 over the rows: row norms (α, the 3σ rule) and the median's first digit
    moments,      ///< pass 2: means and covariances of the rows that enter
    median,       ///< passes 3+: more digits of an exact per-dimension median
    square_root,  ///< the trace square root (iteration 0 when it starts)
    finalize,     ///< the streaming accumulator turns a layer's state into statistics (median, outliers)
};

[[nodiscard]] constexpr std::string_view to_string(progress_stage s) noexcept {
    switch (s) {
        case progress_stage::norms: return "norms";
        case progress_stage::moments: return "moments";
        case progress_stage::median: return "median";
        case progress_stage::square_root: return "square-root";
        case progress_stage::finalize: return "finalize";
    }
    return "?";
}

/// One report. Counts are cumulative within their pass (or square root).
struct progress_event {
    progress_stage stage = progress_stage::norms;
    int layer = -1;             ///< hidden-state index (-1 when unknown)
    int pass = 0;               ///< 1-based pass over the rows; 0 in square_root (the accumulator: always 1)
    int passes = 0;             ///< passes the layer needs as far as known: 2 until pass 1 shows a median needs
                                ///< more (the accumulator: 1, its rows are seen once)
    index_t rows = 0;           ///< rows (both modalities) taken in so far in this pass (the accumulator: of the layer)
    index_t rows_per_pass = 0;  ///< rows of one pass; 0 while pass 1 has not ended
    int iteration = 0;          ///< square_root: iterations done (0: started; direct methods report only that)
    double residual = 0.0;      ///< square_root: the iterative method's residual after `iteration`
};

using progress_callback = std::function<void(const progress_event&)>;

}  // namespace mir
