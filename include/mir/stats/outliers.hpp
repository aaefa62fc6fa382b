// mir/stats/outliers.hpp — what to do with the rows the 3σ rule flags
// (SPEC §2.2), and the per-dimension lower median used to replace them.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <array>
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

/// What the rows the 3σ rule flags are replaced by (outlier_plan).
enum class outlier_stand_in {
    none,              ///< nothing: flagged rows are removed (or kept, when the plan does not flag)
    dimension_median,  ///< the per-dimension lower median of all rows of the modality (SPEC §2.2)
};

/// A policy in the terms every statistics pipeline works in (in memory,
/// replayed, streaming): whether rows are flagged, whether flagged rows are
/// replaced, and by what. The pipelines read only this plan, so a policy
/// is a row of outlier_policies below.
struct outlier_plan {
    bool flags = true;      ///< the 3σ rule flags rows (false: every row enters the moments)
    bool replaces = false;  ///< flagged rows are replaced (the row count is unchanged), not removed
    outlier_stand_in stand_in = outlier_stand_in::none;

    /// The stand-in needs the per-dimension median of all rows (exact:
    /// median passes or kept rows; streaming: a reservoir estimate).
    [[nodiscard]] constexpr bool needs_median() const noexcept {
        return stand_in == outlier_stand_in::dimension_median;
    }
    /// Rows that enter the statistics, out of `rows` of which `outliers` are flagged.
    [[nodiscard]] constexpr index_t final_rows(index_t rows, index_t outliers) const noexcept {
        return flags && !replaces ? rows - outliers : rows;
    }
};

/// What a policy is, for the plan, the program and the JSON.
struct outlier_policy_info {
    outlier_policy policy;
    std::string_view name;     ///< the spelling of --outliers and of JSON "outliers"
    std::string_view summary;  ///< one line for --help
    outlier_plan plan;
};

/// Every policy, the default first.
inline constexpr std::array<outlier_policy_info, 3> outlier_policies{{
    {outlier_policy::replace_median, "replace-median",
     "replace flagged rows by the per-dimension median (official code; default)",
     {true, true, outlier_stand_in::dimension_median}},
    {outlier_policy::drop, "drop", "remove flagged rows (the paper's wording)", {true, false, outlier_stand_in::none}},
    {outlier_policy::none, "none", "no outlier rule", {false, false, outlier_stand_in::none}},
}};

[[nodiscard]] constexpr const outlier_policy_info& info(outlier_policy p) noexcept {
    for (const auto& i : outlier_policies) {
        if (i.policy == p) return i;
    }
    return outlier_policies[0];  // unreachable for a valid enumerator
}

[[nodiscard]] constexpr outlier_plan plan_of(outlier_policy p) noexcept { return info(p).plan; }

constexpr std::string_view to_string(outlier_policy p) noexcept { return info(p).name; }

/// Parses a policy name ("replace-median", "drop", "none").
[[nodiscard]] inline outlier_policy parse_outlier_policy(std::string_view s) {
    std::string names;
    for (std::size_t i = 0; i < outlier_policies.size(); ++i) {
        if (s == outlier_policies[i].name) return outlier_policies[i].policy;
        names += (i == 0 ? "" : i + 1 == outlier_policies.size() ? " or " : ", ") +
                 std::string(outlier_policies[i].name);
    }
    throw argument_error("unknown outlier policy '" + std::string(s) + "' (expected " + names + ")");
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
