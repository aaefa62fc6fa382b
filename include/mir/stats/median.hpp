// mir/stats/median.hpp — the exact per-dimension lower median in bounded
// memory, for sources that can be read more than once.
//
// The replace-median policy needs, per dimension, the lower median of every
// row of a modality (SPEC §2.2). Keeping the rows costs n × d; this selector
// costs d × 2048 counters instead and reads the rows once per pass: a radix
// select on an order-preserving 64-bit key of each value, 11 bits per pass
// from the top. Values that came from an f16, bf16 or f32 tensor only have
// their top 22, 19 or 35 key bits significant (the rest are fixed), so the
// selection is exact after 2, 2 or 4 passes (6 for f64).
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <string>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"

namespace mir {

/// Significant bits of the order-preserving key of a value of type T.
template <element T>
inline constexpr int significant_key_bits = std::same_as<T, half>       ? 22
                                            : std::same_as<T, bfloat16> ? 19
                                            : std::same_as<T, float>    ? 35
                                                                        : 64;

namespace detail {

/// Order-preserving map of a double to an unsigned key (−0 sorts below +0,
/// which the median never distinguishes numerically).
constexpr std::uint64_t order_key(double x) noexcept {
    const auto b = std::bit_cast<std::uint64_t>(x);
    return (b >> 63) ? ~b : (b | 0x8000000000000000ULL);
}

constexpr double from_order_key(std::uint64_t k) noexcept {
    return std::bit_cast<double>((k >> 63) ? (k & 0x7fffffffffffffffULL) : ~k);
}

}  // namespace detail

/// Exact per-dimension lower median over several passes of the same rows.
///
///     exact_median_selector sel(d);
///     while (!sel.done()) { sel.begin_pass(); for (rows...) sel.add(rows); sel.end_pass(); }
///     Eigen::VectorXd m = sel.median();
///
/// Every pass must present the same multiset of rows (order is free); the
/// first pass fixes the row count.
class exact_median_selector {
public:
    static constexpr int digit_bits = 11;
    static constexpr std::uint32_t bins = 1u << digit_bits;

    explicit exact_median_selector(index_t dim) : dim_(dim) {
        if (dim <= 0) throw shape_error("exact_median_selector: the row dimension must be positive");
        prefix_.assign(static_cast<std::size_t>(dim), 0);
    }

    /// Rows per pass (known after the first pass).
    [[nodiscard]] index_t rows() const noexcept { return rows_; }

    [[nodiscard]] bool done() const noexcept { return started_ && bits_ >= key_bits_; }
    /// Between begin_pass() and end_pass().
    [[nodiscard]] bool in_pass() const noexcept { return in_pass_; }
    [[nodiscard]] int passes() const noexcept { return passes_; }
    /// Passes still needed for an exact median (known once a pass has ended).
    [[nodiscard]] int passes_left() const noexcept {
        return done() ? 0 : (key_bits_ - bits_ + digit_bits - 1) / digit_bits;
    }
    [[nodiscard]] std::size_t memory_bytes() const noexcept { return counts_.capacity() * sizeof(std::uint32_t); }

    void begin_pass() {
        if (done()) throw argument_error("exact_median_selector: the median is already exact");
        counts_.assign(static_cast<std::size_t>(dim_) * bins, 0);
        seen_ = 0;
        in_pass_ = true;
    }

    template <element T>
    void add(const row_view<T>& rows) {
        if (!in_pass_) throw argument_error("exact_median_selector: add() outside begin_pass()/end_pass()");
        if (rows.cols != dim_) {
            throw shape_error("exact_median_selector: rows of dimension " + std::to_string(rows.cols) +
                              ", expected " + std::to_string(dim_));
        }
        // The widest type seen decides how many key bits are significant.
        if (passes_ == 0) key_bits_ = std::max(key_bits_, significant_key_bits<T>);
        const int width = digit_width();
        const int shift = 64 - bits_ - width;
        const std::uint64_t mask = (std::uint64_t{1} << width) - 1;
        for (index_t i = 0; i < rows.rows; ++i) {
            const T* r = rows.row(i);
            for (index_t j = 0; j < dim_; ++j) {
                const std::uint64_t k = detail::order_key(to_acc<double>(r[j]));
                if (bits_ > 0 && (k >> (64 - bits_)) != prefix_[static_cast<std::size_t>(j)]) continue;
                const auto bin = static_cast<std::uint32_t>((k >> shift) & mask);
                ++counts_[static_cast<std::size_t>(j) * bins + bin];
            }
        }
        seen_ += rows.rows;
    }

    void end_pass() {
        if (!in_pass_) throw argument_error("exact_median_selector: end_pass() without begin_pass()");
        if (passes_ == 0) {
            if (seen_ == 0) throw too_few_rows_error("exact_median_selector: no rows");
            rows_ = seen_;
            rank_.assign(static_cast<std::size_t>(dim_), static_cast<std::uint64_t>((rows_ - 1) / 2));
        }
        if (seen_ != rows_) {
            throw argument_error("exact_median_selector: a pass saw " + std::to_string(seen_) + " rows, expected " +
                                 std::to_string(rows_) + " (every pass must replay the same rows)");
        }
        for (index_t j = 0; j < dim_; ++j) {
            const std::uint32_t* c = counts_.data() + static_cast<std::size_t>(j) * bins;
            std::uint64_t& rank = rank_[static_cast<std::size_t>(j)];
            std::uint32_t b = 0;
            while (b < bins && rank >= c[b]) rank -= c[b++];
            if (b == bins) throw argument_error("exact_median_selector: passes presented different rows");
            prefix_[static_cast<std::size_t>(j)] = (prefix_[static_cast<std::size_t>(j)] << digit_width()) | b;
        }
        bits_ += digit_width();
        ++passes_;
        started_ = true;
        in_pass_ = false;
        if (done()) counts_ = {};
    }

    /// Adds the counts of another selector in the same pass: a participant
    /// that saw other rows of the same source, starting from the same digits
    /// (a copy of this selector taken at begin_pass()). As if this one had
    /// seen its rows too.
    void merge(const exact_median_selector& other) {
        if (!in_pass_ || !other.in_pass_) throw argument_error("exact_median_selector: merge() outside a pass");
        if (other.dim_ != dim_ || other.passes_ != passes_ || other.bits_ != bits_ || other.prefix_ != prefix_) {
            throw argument_error("exact_median_selector: merging a selector of another dimension or pass");
        }
        for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
        seen_ += other.seen_;
        key_bits_ = std::max(key_bits_, other.key_bits_);
    }

    /// The exact lower median of every dimension; needs done().
    [[nodiscard]] Eigen::VectorXd median() const {
        if (!done()) throw argument_error("exact_median_selector: median() before the last pass");
        Eigen::VectorXd m(dim_);
        const int used = bits_;
        for (index_t j = 0; j < dim_; ++j) {
            const std::uint64_t p = prefix_[static_cast<std::size_t>(j)];
            // Bits below the significant ones are the fixed fill of the key.
            std::uint64_t key = used == 64 ? p : (p << (64 - used));
            if (used < 64 && !(key >> 63)) key |= (~0ULL >> used);  // negative values: low key bits are ones
            m[j] = detail::from_order_key(key);
        }
        return m;
    }

    /// Every field of the state (see moments::visit_state).
    template <class Visitor>
    void visit_state(Visitor&& v) {
        v("rows", rows_);
        v("seen", seen_);
        v("key_bits", key_bits_);
        v("bits", bits_);
        v("passes", passes_);
        v("started", started_);
        v("in_pass", in_pass_);
        v("prefix", prefix_);
        v("rank", rank_);
        v("counts", counts_);
    }

    /// Throws argument_error (prefixed with `where`) unless the fields are
    /// consistent (sizes, digit counts): what a loaded state must pass
    /// before it is used.
    void check_state(const std::string& where) const {
        const auto bad = [&](const std::string& what) {
            throw argument_error(where + ": inconsistent median selector state: " + what);
        };
        if (prefix_.size() != static_cast<std::size_t>(dim_)) bad("prefix size");
        if (passes_ < 0 || passes_ > 6 || bits_ != std::min(64, passes_ * digit_bits)) bad("passes and bits");
        if (key_bits_ != 0 && key_bits_ != 19 && key_bits_ != 22 && key_bits_ != 35 && key_bits_ != 64) bad("key bits");
        if (passes_ > 0 && rank_.size() != static_cast<std::size_t>(dim_)) bad("rank size");
        if (in_pass_ && counts_.size() != static_cast<std::size_t>(dim_) * bins) bad("counter size");
        if (rows_ < 0 || seen_ < 0 || (passes_ > 0 && rows_ == 0) || started_ != (passes_ > 0)) bad("row counts");
    }

private:
    // 11 bits per pass; the last pass of an f64 selection takes what is left.
    [[nodiscard]] int digit_width() const noexcept { return std::min(digit_bits, 64 - bits_); }

    index_t dim_;
    index_t rows_ = 0;
    index_t seen_ = 0;
    int key_bits_ = 0;
    int bits_ = 0;
    int passes_ = 0;
    bool started_ = false;
    bool in_pass_ = false;
    std::vector<std::uint64_t> prefix_;
    std::vector<std::uint64_t> rank_;
    std::vector<std::uint32_t> counts_;
};

}  // namespace mir
