// mir/stats/norms.hpp — row norms and the 3σ outlier rule (SPEC §2.2).
//
//   n_i = ‖x_i‖₂,  m = lower median of n,  σ = std(n) with Bessel's
//   correction,  row i is an outlier iff |n_i − m| > 3σ (strict).
//
// The rule is scale invariant, so it is applied to raw norms; the
// text-centric scale α (mir/stats/scale.hpp) does not change the outliers.
#pragma once

#include <algorithm>
#include <cmath>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"

namespace mir {

/// Names a block of rows in error messages: layer index and modality.
struct row_context {
    int layer = -1;                  ///< hidden-state index, -1 when unknown
    std::string_view modality = "";  ///< "vision" or "text"
    index_t row_offset = 0;          ///< index of the view's first row in the modality

    /// "vision row 12" (the layer goes into the error's context: where()).
    [[nodiscard]] std::string describe(index_t row) const {
        std::string s;
        if (!modality.empty()) s += std::string(modality) + " ";
        s += "row " + std::to_string(row_offset + row);
        return s;
    }
    /// The error context of these rows.
    [[nodiscard]] error_context where() const { return {"", "", -1, layer}; }
};

/// Appends the L2 norm of every row of `rows` to `out`, in fp64. Throws
/// non_finite_error naming the row and column of the first NaN/Inf.
template <element T>
void append_row_norms(const row_view<T>& rows, std::vector<double>& out, const row_context& ctx = {}) {
    out.reserve(out.size() + static_cast<std::size_t>(rows.rows));
    for (index_t i = 0; i < rows.rows; ++i) {
        const T* r = rows.row(i);
        double s = 0.0;
        for (index_t j = 0; j < rows.cols; ++j) {
            const double v = to_acc<double>(r[j]);
            s += v * v;
        }
        if (!std::isfinite(s)) {
            for (index_t j = 0; j < rows.cols; ++j) {
                const double v = to_acc<double>(r[j]);
                if (!std::isfinite(v)) {
                    throw non_finite_error(ctx.describe(i) + ": element " + std::to_string(j) + " is " +
                                               (std::isnan(v) ? "NaN" : "infinite") + " (hidden states must be finite)",
                                           ctx.where());
                }
            }
            throw non_finite_error(ctx.describe(i) + ": the squared norm overflows double precision", ctx.where());
        }
        out.push_back(std::sqrt(s));
    }
}

template <element T>
[[nodiscard]] std::vector<double> row_norms(const row_view<T>& rows, const row_context& ctx = {}) {
    std::vector<double> out;
    append_row_norms(rows, out, ctx);
    return out;
}

/// The lower median: element (n − 1) / 2 of the sorted values, as
/// torch.median returns. Throws on an empty range.
[[nodiscard]] inline double lower_median(std::span<const double> values) {
    if (values.empty()) throw too_few_rows_error("lower_median: no values");
    std::vector<double> v(values.begin(), values.end());
    const auto mid = v.begin() + static_cast<std::ptrdiff_t>((v.size() - 1) / 2);
    std::nth_element(v.begin(), mid, v.end());
    return *mid;
}

/// Standard deviation with Bessel's correction (count − 1), two-pass.
/// Needs at least 2 values.
[[nodiscard]] inline double bessel_stddev(std::span<const double> values) {
    if (values.size() < 2) throw too_few_rows_error("bessel_stddev: needs at least 2 values");
    const double n = static_cast<double>(values.size());
    const double mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
    double ss = 0.0;
    for (double v : values) ss += (v - mean) * (v - mean);
    return std::sqrt(ss / (n - 1.0));
}

/// The 3σ rule fitted to one modality's norms.
struct outlier_rule {
    double median = 0.0;  ///< lower median of the norms
    double sigma = 0.0;   ///< Bessel standard deviation of the norms
    double k = 3.0;       ///< the rule's multiple of σ

    /// Strict inequality, as the official code (`> 3σ`).
    [[nodiscard]] bool is_outlier(double norm) const noexcept { return std::abs(norm - median) > k * sigma; }

    [[nodiscard]] static outlier_rule fit(std::span<const double> norms, double k = 3.0) {
        return {lower_median(norms), bessel_stddev(norms), k};
    }
};

}  // namespace mir
