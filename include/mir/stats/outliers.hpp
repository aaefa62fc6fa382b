// mir/stats/outliers.hpp — what to do with the rows the 3σ rule flags
// (SPEC §2.2), and the per-dimension lower median used to replace them.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"

namespace mir {

/// Outlier policies. `replace_median` is the official code's behaviour and
/// the default; `drop` is the paper's wording; `none` changes nothing.
enum class outlier_policy { replace_median, drop, none };

constexpr std::string_view to_string(outlier_policy p) noexcept {
    switch (p) {
        case outlier_policy::replace_median: return "replace-median";
        case outlier_policy::drop: return "drop";
        case outlier_policy::none: return "none";
    }
    return "?";
}

/// Parses "replace-median", "drop" or "none".
[[nodiscard]] inline outlier_policy parse_outlier_policy(std::string_view s) {
    if (s == "replace-median") return outlier_policy::replace_median;
    if (s == "drop") return outlier_policy::drop;
    if (s == "none") return outlier_policy::none;
    throw argument_error("unknown outlier policy '" + std::string(s) +
                         "' (expected replace-median, drop or none)");
}

/// Per-dimension lower median (element (n − 1) / 2 of each sorted column)
/// over every row of the views, in fp64. Rows of all views are pooled.
template <element T>
[[nodiscard]] Eigen::VectorXd per_dimension_lower_median(std::span<const row_view<T>> views) {
    if (views.empty()) throw too_few_rows_error("per_dimension_lower_median: no rows");
    const index_t d = views.front().cols;
    index_t n = 0;
    for (const auto& v : views) {
        if (v.cols != d) throw shape_error("per_dimension_lower_median: views of different row dimensions");
        n += v.rows;
    }
    if (n == 0) throw too_few_rows_error("per_dimension_lower_median: no rows");
    Eigen::VectorXd med(d);
    std::vector<double> column(static_cast<std::size_t>(n));
    const auto mid = static_cast<std::ptrdiff_t>((n - 1) / 2);
    for (index_t j = 0; j < d; ++j) {
        std::size_t t = 0;
        for (const auto& v : views) {
            for (index_t i = 0; i < v.rows; ++i) column[t++] = to_acc<double>(v.row(i)[j]);
        }
        std::nth_element(column.begin(), column.begin() + mid, column.end());
        med[j] = column[static_cast<std::size_t>(mid)];
    }
    return med;
}

template <element T>
[[nodiscard]] Eigen::VectorXd per_dimension_lower_median(const row_view<T>& rows) {
    return per_dimension_lower_median<T>(std::span<const row_view<T>>(&rows, 1));
}

}  // namespace mir
