// mir/stats/scale.hpp — the text-centric scale α (SPEC §2.1).
//
//   α = s / Σ_j ‖T[j]‖₂   (one over the mean L2 norm of the text rows).
//
// Both modalities are multiplied by α. Since FID(αX, αY) = α²·FID(X, Y),
// the library accumulates raw statistics and applies α² at the end.
#pragma once

#include <cmath>
#include <numeric>
#include <span>
#include <string>

#include "mir/error.hpp"

namespace mir {

/// α from the text rows' L2 norms (all text rows, before any outlier
/// policy, as the official code computes it). Throws when the norms are
/// empty or all zero.
[[nodiscard]] inline double text_centric_scale(std::span<const double> text_norms) {
    if (text_norms.empty()) throw too_few_rows_error("text_centric_scale: no text rows");
    const double sum = std::accumulate(text_norms.begin(), text_norms.end(), 0.0);
    if (!(sum > 0.0) || !std::isfinite(sum)) {
        throw argument_error("text_centric_scale: the text rows' norms sum to " + std::to_string(sum) +
                             "; α = count / Σ‖t‖ needs a positive finite sum");
    }
    return static_cast<double>(text_norms.size()) / sum;
}

}  // namespace mir
