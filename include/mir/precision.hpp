// mir/precision.hpp — the one precision switch: the scalar type in which
// statistics are accumulated and approximate square roots iterate. Final
// statistics and results are always fp64.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "mir/error.hpp"

namespace mir {

enum class precision {
    fp64,  ///< double (default: exact to rounding)
    fp32,  ///< float (faster rank-k updates and GEMMs)
};

/// Every precision, the default first.
inline constexpr std::array<precision, 2> precisions{precision::fp64, precision::fp32};

constexpr std::string_view to_string(precision p) noexcept { return p == precision::fp64 ? "fp64" : "fp32"; }

/// Parses "fp64" or "fp32".
[[nodiscard]] inline precision parse_precision(std::string_view s) {
    if (s == "fp64") return precision::fp64;
    if (s == "fp32") return precision::fp32;
    throw argument_error("unknown precision '" + std::string(s) + "' (expected fp64 or fp32)");
}

/// Calls `fn.template operator()<Acc>()` with Acc = double or float, as p
/// says: the one place a run-time precision picks an accumulation type.
template <class Fn>
decltype(auto) with_precision(precision p, Fn&& fn) {
    if (p == precision::fp32) return fn.template operator()<float>();
    return fn.template operator()<double>();
}

}  // namespace mir
