// mir/stats/streaming.hpp — one modality's statistics fed block by block,
// in memory that does not grow with the number of rows (beyond one norm
// per row and the outlier rows themselves).
//
// The 3σ rule needs the median and σ of every norm, known only at the end.
// Rows are therefore routed on arrival:
//   * while a modality has at most d rows, they are kept (no more memory
//     than the d × d covariance) and finalised by the exact per-layer path;
//   * then each row goes either into a "tail" buffer — the rows with the
//     largest and the smallest norms so far, the only candidates for
//     outliers — or, when it leaves both tails, into the settled moments
//     (batch-centred rank-k updates). No downdate, so no cancellation.
//   * At the end the rule is fitted on all norms; buffered inliers join
//     the settled moments, buffered outliers are dropped or replaced.
// The result is exact when every settled row is an inlier, which is
// checked (settled norms lie in [min, max] and the inliers form an
// interval); the tail capacity grows with the running outlier count so
// this holds in practice, and the result says so when it does not.
//
// Policy replace-median needs the per-dimension median of *all* rows:
// median_mode::keep_rows keeps them (exact; memory grows with the rows, as
// in the official code), median_mode::reservoir estimates it from a
// seeded uniform sample of reservoir_rows rows (bounded; exact while the
// modality has no more rows than that). modality_stats says which.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/stats/modality.hpp"
#include "mir/stats/moments.hpp"
#include "mir/stats/norms.hpp"
#include "mir/stats/outliers.hpp"

namespace mir {

/// How replace-median obtains the per-dimension median in one pass.
enum class median_mode {
    keep_rows,  ///< keep every row (exact; memory grows with the rows)
    reservoir,  ///< a uniform sample of reservoir_rows rows (bounded; an estimate)
};

/// Options of the streaming accumulators.
struct streaming_options {
    outlier_policy policy = outlier_policy::replace_median;
    median_mode median = median_mode::keep_rows;
    index_t reservoir_rows = 4096;  ///< sample size of median_mode::reservoir
    index_t tail_capacity = 64;     ///< initial rows per tail (grows as needed)
    std::uint64_t seed = 0x6d69722d72736576ULL;
    index_t block_rows = moments<double>::default_block_rows;
};

namespace detail {

/// Rows kept verbatim: float storage is exact for f16/bf16/f32 inputs,
/// double storage is used once a double row arrives.
class row_store {
public:
    explicit row_store(index_t d = 0) : d_(d) {}

    template <element T>
    void append(const row_view<T>& v) {
        if constexpr (std::same_as<T, double>) {
            if (!f32_.empty()) {
                f64_.assign(f32_.begin(), f32_.end());
                f32_.clear();
                f32_.shrink_to_fit();
            }
            wide_ = true;
        }
        const std::size_t old = size();
        if (wide_) {
            f64_.resize(old + static_cast<std::size_t>(v.rows * d_));
            detail::load_rows<double>(v, 0, v.rows, f64_.data() + old);
        } else {
            f32_.resize(old + static_cast<std::size_t>(v.rows * d_));
            detail::load_rows<float>(v, 0, v.rows, f32_.data() + old);
        }
        rows_ += v.rows;
    }

    [[nodiscard]] index_t rows() const noexcept { return rows_; }
    [[nodiscard]] std::size_t bytes() const noexcept { return f32_.capacity() * 4 + f64_.capacity() * 8; }

    /// Calls fn(row_view<float>) or fn(row_view<double>).
    template <class Fn>
    decltype(auto) visit(Fn&& fn) const {
        if (wide_) return fn(row_view<double>(f64_.data(), rows_, d_));
        return fn(row_view<float>(f32_.data(), rows_, d_));
    }

    void clear() {
        f32_ = {};
        f64_ = {};
        rows_ = 0;
    }

private:
    [[nodiscard]] std::size_t size() const noexcept { return wide_ ? f64_.size() : f32_.size(); }
    index_t d_;
    index_t rows_ = 0;
    bool wide_ = false;
    std::vector<float> f32_;
    std::vector<double> f64_;
};

}  // namespace detail

/// Streaming statistics of one modality in accumulation type Acc.
template <accumulator_type Acc = double>
class modality_accumulator {
public:
    modality_accumulator(index_t dim, streaming_options opt = {})
        : dim_(dim), opt_(opt), plan_(plan_of(opt.policy)), store_(dim), settled_(dim, opt.block_rows), rng_(opt.seed),
          capacity_(std::max<index_t>(1, opt.tail_capacity)) {
        if (dim <= 0) throw shape_error("modality_accumulator: the row dimension must be positive");
        keep_all_ = plan_.needs_median() && opt_.median == median_mode::keep_rows;
    }

    [[nodiscard]] index_t dim() const noexcept { return dim_; }
    [[nodiscard]] index_t rows() const noexcept { return static_cast<index_t>(norms_.size()); }
    [[nodiscard]] const std::vector<double>& norms() const noexcept { return norms_; }
    [[nodiscard]] const streaming_options& options() const noexcept { return opt_; }

    /// Rows held besides the norms and the d × d moments (kept rows, tail
    /// buffer, reservoir): what grows, if anything, with the input.
    [[nodiscard]] index_t buffered_rows() const noexcept {
        return store_.rows() + static_cast<index_t>(slots_.size() - free_.size()) + reservoir_rows_;
    }

    /// Adds rows; ctx names the layer and modality in error messages.
    template <element T>
    void add(const row_view<T>& rows, row_context ctx = {}) {
        validate_view(rows, "rows");
        if (rows.rows == 0) return;
        if (rows.cols != dim_) {
            throw shape_error(std::string(ctx.modality.empty() ? "" : std::string(ctx.modality) + " ") + "rows have " +
                                  std::to_string(rows.cols) + " columns, expected the hidden size " + std::to_string(dim_),
                              ctx.where());
        }
        ctx.row_offset = this->rows();
        const std::size_t first_norm = norms_.size();
        append_row_norms(rows, norms_, ctx);
        if (streaming_) {
            if (plan_.flags) grow_tails();
            stream(rows, first_norm);
        } else {
            store_.append(rows);
            if (!keep_all_ && store_.rows() > dim_) {
                if (plan_.flags) grow_tails();
                start_streaming();
            }
        }
    }

    /// The modality's statistics under the policy.
    [[nodiscard]] modality_stats finalize(const row_context& ctx = {}) const {
        detail::require_rows(rows(), 2, ctx, "rows given");
        if (!streaming_) {
            return store_.visit([&](const auto& view) {
                return modality_statistics<Acc>(view, std::span<const double>(norms_), opt_.policy, ctx);
            });
        }
        modality_stats out;
        out.input_rows = rows();
        out.rule = outlier_rule::fit(norms_);
        moments<Acc> m = settled_;
        std::vector<Acc> block = settle_;  // has the spare row once allocated
        m.add_block(block.data(), settle_rows_, true);
        if (plan_.flags) {
            out.outliers_exact =
                settled_count_ == 0 || (!out.rule.is_outlier(settled_min_) && !out.rule.is_outlier(settled_max_));
            block.clear();
            index_t k = 0;
            for (std::size_t s = 0; s < slots_.size(); ++s) {
                if (!slots_[s].live || out.rule.is_outlier(slots_[s].norm)) continue;
                block.insert(block.end(), pool_.begin() + static_cast<std::ptrdiff_t>(s) * dim_,
                             pool_.begin() + static_cast<std::ptrdiff_t>(s + 1) * dim_);
                ++k;
            }
            block.resize(static_cast<std::size_t>((k + 1) * dim_));  // + the spare row of add_block
            m.add_block(block.data(), k, true);
            for (double n : norms_) out.outliers += out.rule.is_outlier(n) ? 1 : 0;
            if (plan_.needs_median()) out.median_exact = seen_ <= opt_.reservoir_rows;
        }
        detail::add_stand_ins(plan_, m, out.outliers, [&] { return reservoir_median(); }, ctx);
        out.gaussian = detail::finish_gaussian(m, nullptr, ctx);
        return out;
    }

private:
    struct slot {
        double norm = 0.0;
        bool hi = false, lo = false, live = false;
    };
    using heap_entry = std::pair<double, index_t>;

    void start_streaming() {
        streaming_ = true;
        // Scale before narrowing (moments::set_scale), from the rows so far:
        // fp32 then holds rows near 1e30 and denormals as the per-layer path
        // does. A later row far beyond them (~2^60 times) can still leave
        // float's range: finish_gaussian then names the layer and precision.
        scale_ = moments<Acc>::scale_for(*std::max_element(norms_.begin(), norms_.end()));
        settled_.set_scale(scale_);
        store_.visit([&](const auto& view) { stream(view, 0); });
        store_.clear();
    }

    template <element T>
    void stream(const row_view<T>& rows, std::size_t first_norm) {
        const index_t br = std::max<index_t>(1, opt_.block_rows);
        block_.resize(static_cast<std::size_t>((br + 1) * dim_));  // + the spare row of add_block
        for (index_t first = 0; first < rows.rows; first += br) {
            const index_t k = std::min(br, rows.rows - first);
            detail::load_rows<Acc>(rows, first, k, block_.data(), scale_);
            if (!plan_.flags) {
                settled_.add_block(block_.data(), k, true);
                continue;
            }
            for (index_t i = 0; i < k; ++i) {
                const Acc* row = block_.data() + i * dim_;
                if (plan_.needs_median()) sample(row);
                route(row, norms_[first_norm + static_cast<std::size_t>(first + i)]);
            }
        }
    }

    // Tail routing: keep the `capacity_` largest and smallest norms.
    void route(const Acc* row, double norm) {
        const auto min_first = [](const heap_entry& a, const heap_entry& b) { return a.first > b.first; };
        const auto max_first = [](const heap_entry& a, const heap_entry& b) { return a.first < b.first; };
        const bool to_hi = static_cast<index_t>(hi_.size()) < capacity_ || norm > hi_.front().first;
        const bool to_lo = static_cast<index_t>(lo_.size()) < capacity_ || norm < lo_.front().first;
        if (!to_hi && !to_lo) {
            settle(row, norm);
            return;
        }
        const index_t s = allocate(row, norm);
        if (to_hi) enter_tail(hi_, &slot::hi, s, norm, min_first);
        if (to_lo) enter_tail(lo_, &slot::lo, s, norm, max_first);
    }

    // Pushes slot s into one tail; the row the tail then evicts leaves it,
    // and settles if it is in neither tail.
    template <class Cmp>
    void enter_tail(std::vector<heap_entry>& tail, bool slot::*member, index_t s, double norm, Cmp cmp) {
        slots_[static_cast<std::size_t>(s)].*member = true;
        tail.emplace_back(norm, s);
        std::push_heap(tail.begin(), tail.end(), cmp);
        if (static_cast<index_t>(tail.size()) > capacity_) {
            std::pop_heap(tail.begin(), tail.end(), cmp);
            const index_t e = tail.back().second;
            tail.pop_back();
            slots_[static_cast<std::size_t>(e)].*member = false;
            release(e);
        }
    }

    index_t allocate(const Acc* row, double norm) {
        index_t s;
        if (!free_.empty()) {
            s = free_.back();
            free_.pop_back();
        } else {
            s = static_cast<index_t>(slots_.size());
            slots_.emplace_back();
            pool_.resize(pool_.size() + static_cast<std::size_t>(dim_));
        }
        std::memcpy(pool_.data() + s * dim_, row, sizeof(Acc) * static_cast<std::size_t>(dim_));
        slots_[static_cast<std::size_t>(s)] = {norm, false, false, true};
        return s;
    }

    // A slot that left both tails is an inlier for sure (if the tails are
    // large enough): it joins the settled moments.
    void release(index_t s) {
        slot& sl = slots_[static_cast<std::size_t>(s)];
        if (sl.hi || sl.lo) return;
        settle(pool_.data() + s * dim_, sl.norm);
        sl.live = false;
        free_.push_back(s);
    }

    void settle(const Acc* row, double norm) {
        const index_t br = std::max<index_t>(1, opt_.block_rows);
        if (settle_.size() < static_cast<std::size_t>((br + 1) * dim_)) {
            settle_.resize(static_cast<std::size_t>((br + 1) * dim_));  // + the spare row of add_block
        }
        std::memcpy(settle_.data() + settle_rows_ * dim_, row, sizeof(Acc) * static_cast<std::size_t>(dim_));
        if (++settle_rows_ == br) {
            settled_.add_block(settle_.data(), settle_rows_, true);
            settle_rows_ = 0;
        }
        settled_min_ = settled_count_ == 0 ? norm : std::min(settled_min_, norm);
        settled_max_ = settled_count_ == 0 ? norm : std::max(settled_max_, norm);
        ++settled_count_;
    }

    // Grow each tail to twice the outliers the running rule sees, so the
    // rows the final rule flags are still buffered.
    void grow_tails() {
        if (norms_.size() < 2) return;
        const outlier_rule rule = outlier_rule::fit(norms_);
        index_t hi = 0, lo = 0;
        for (double n : norms_) {
            if (rule.is_outlier(n)) ++(n > rule.median ? hi : lo);
        }
        capacity_ = std::max(capacity_, 2 * std::max(hi, lo) + 16);
    }

    // Reservoir sampling (Algorithm R) for the replace-median estimate.
    void sample(const Acc* row) {
        const index_t m = std::max<index_t>(1, opt_.reservoir_rows);
        ++seen_;
        index_t dst = -1;
        if (reservoir_rows_ < m) {
            dst = reservoir_rows_++;
            reservoir_.resize(static_cast<std::size_t>(reservoir_rows_ * dim_));
        } else {
            std::uniform_int_distribution<index_t> pick(0, seen_ - 1);
            const index_t j = pick(rng_);
            if (j < m) dst = j;
        }
        if (dst >= 0) std::memcpy(reservoir_.data() + dst * dim_, row, sizeof(Acc) * static_cast<std::size_t>(dim_));
    }

    [[nodiscard]] Eigen::VectorXd reservoir_median() const {
        // The sample holds scaled rows; add_constant scales what it is given.
        return per_dimension_lower_median(row_view<Acc>(reservoir_.data(), reservoir_rows_, dim_)) * (1.0 / scale_);
    }

    index_t dim_;
    streaming_options opt_;
    outlier_plan plan_;
    bool keep_all_ = false;
    bool streaming_ = false;
    std::vector<double> norms_;
    detail::row_store store_;
    moments<Acc> settled_;
    double scale_ = 1.0;  // of every buffered and settled row (pool, tails, reservoir), once streaming
    std::vector<Acc> block_;
    std::vector<Acc> settle_;
    index_t settle_rows_ = 0;
    index_t settled_count_ = 0;
    double settled_min_ = 0.0, settled_max_ = 0.0;
    // tails
    std::vector<Acc> pool_;
    std::vector<slot> slots_;
    std::vector<index_t> free_;
    std::vector<heap_entry> hi_, lo_;
    // reservoir
    std::vector<Acc> reservoir_;
    index_t reservoir_rows_ = 0;
    index_t seen_ = 0;
    std::mt19937_64 rng_;
    index_t capacity_;
};

}  // namespace mir
