// mir/metric/mir.hpp — aggregation (SPEC §2.4): MIR = log10 Σ_k FID_k over
// the chosen layers. Base 10, as the official code and published values.
#pragma once

#include <cmath>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "mir/error.hpp"
#include "mir/metric/layer.hpp"

namespace mir {

/// MIR over the layers given, with every layer's figures.
struct mir_result {
    double mir = 0.0;      ///< log10 of fid_sum
    double fid_sum = 0.0;  ///< Σ_k FID_k
    double fid_sum_bound = 0.0;  ///< Σ_k of the layers' fid_bound: the rounding level of fid_sum
    std::vector<layer_result> layers;
    /// True when every layer is exact (see layer_result::exact).
    [[nodiscard]] bool exact() const noexcept {
        for (const auto& l : layers) {
            if (!l.exact) return false;
        }
        return true;
    }
};

namespace detail {
[[noreturn]] inline void throw_coinciding(double sum, double bound) {
    char figures[96];
    std::snprintf(figures, sizeof figures, "the per-layer FIDs sum to %.3g, within their rounding bound %.3g", sum,
                  bound);
    throw undefined_error(std::string("MIR is undefined: the two modalities' statistics coincide (") + figures +
                          "; log10 of 0 is -inf)");
}
}  // namespace detail

/// log10 of the sum of per-layer FIDs. Throws undefined_error when the sum
/// is 0 (the modalities' statistics coincide: every FID is 0), and
/// argument_error when there are no layers or the sum is not a positive
/// finite number (log10 would give NaN).
[[nodiscard]] inline double mir_from_fids(std::span<const double> fids) {
    if (fids.empty()) throw argument_error("MIR: no layers to aggregate");
    double sum = 0.0;
    for (double f : fids) sum += f;
    if (sum == 0.0) detail::throw_coinciding(sum, 0.0);
    if (!(sum > 0.0) || !std::isfinite(sum)) {
        throw argument_error("MIR: the per-layer FIDs sum to " + std::to_string(sum) +
                             "; log10 needs a positive finite sum (identical vision and text statistics?)");
    }
    return std::log10(sum);
}

/// Aggregates layer results into MIR. A sum of FIDs within the sum of the
/// layers' rounding bounds (every layer 0 when the two modalities' rows
/// coincide) throws undefined_error "... statistics coincide", whatever the
/// square-root method, precision or thread count.
[[nodiscard]] inline mir_result aggregate(std::vector<layer_result> layers) {
    mir_result r;
    std::vector<double> fids;
    fids.reserve(layers.size());
    for (const auto& l : layers) {
        if (l.terms.sqrt_outcome == sqrt_status::solver_failed) {
            throw numerical_error("the symmetric eigenvalue solver of the trace square root did not converge",
                                  error_context{"", "", -1, l.layer});
        }
        fids.push_back(l.fid);
        r.fid_sum += l.fid;
        r.fid_sum_bound += l.fid_bound;
    }
    if (!layers.empty() && std::abs(r.fid_sum) <= r.fid_sum_bound) detail::throw_coinciding(r.fid_sum, r.fid_sum_bound);
    r.mir = mir_from_fids(fids);
    r.layers = std::move(layers);
    return r;
}

}  // namespace mir
