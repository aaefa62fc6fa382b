// mir/stats/moments.hpp — streaming count, mean and covariance.
//
// Rows arrive in blocks. Each block is converted to the accumulation type
// (in cache), centred on its own mean, and added as a rank-k update of the
// scatter matrix (BLAS syrk where available); blocks and whole accumulators
// are combined with Chan's parallel formula
//     M2 = M2_a + M2_b + (n_a n_b / n) δ δᵀ,   δ = μ_b − μ_a.
// The one-pass Σxxᵀ − nμμᵀ is never formed: hidden states carry large
// common offsets and it would cancel catastrophically.
//
// Rows can be scaled by a power of two before they are narrowed to Acc
// (set_scale, from the largest row norm: scale_for): fp32 accumulation then
// holds values near 1e30 (whose squares overflow float) and denormals near
// 1e-40 (whose squares underflow to 0). The results (mean_f64, scatter,
// covariance) are scaled back in fp64. Scaling by a power of two is exact,
// so fp64 results are the same bits with or without it.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "mir/backend/backend.hpp"
#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/precision.hpp"

namespace mir {

/// A square matrix of which only the lower triangle is meaningful (what
/// visit_state hands a visitor for a scatter matrix).
template <class Matrix>
struct lower_triangle {
    Matrix& matrix;
    bool zero = false;  ///< known to be all zeros (nothing accumulated): may be stored as nothing
};

/// Streaming moments of d-dimensional rows in accumulation type Acc.
template <accumulator_type Acc = double>
class moments {
public:
    using vector_type = Eigen::Matrix<Acc, Eigen::Dynamic, 1>;
    using matrix_type = Eigen::Matrix<Acc, Eigen::Dynamic, Eigen::Dynamic>;

    /// Rows per block of the rank-k update (conversion buffer size).
    static constexpr index_t default_block_rows = 256;

    moments() = default;
    explicit moments(index_t dim, index_t block_rows = default_block_rows)
        : dim_(dim), block_rows_(std::max<index_t>(1, block_rows)), mean_(vector_type::Zero(dim)),
          m2_(matrix_type::Zero(dim, dim)) {
        if (dim <= 0) throw shape_error("moments: the row dimension must be positive, got " + std::to_string(dim));
    }

    [[nodiscard]] index_t dim() const noexcept { return dim_; }
    [[nodiscard]] index_t count() const noexcept { return n_; }
    /// The running mean in Acc, in scaled units (times scale()).
    [[nodiscard]] const vector_type& mean() const noexcept { return mean_; }
    [[nodiscard]] double scale() const noexcept { return scale_; }

    /// The power of two that brings a row of norm `max_norm` into [1, 2)
    /// (1 for 0 or a non-finite norm): every element, square and sum of
    /// squares of the scaled rows is then in range for float.
    [[nodiscard]] static double scale_for(double max_norm) noexcept {
        if (!(max_norm > 0.0) || !std::isfinite(max_norm)) return 1.0;
        const int e = std::ilogb(max_norm);
        return e == 0 ? 1.0 : std::ldexp(1.0, -e);
    }

    /// Rows are multiplied by `s` (a power of two, before narrowing to Acc)
    /// from now on; only before the first row.
    void set_scale(double s) {
        if (n_ != 0) throw argument_error("moments: the scale is set before the first row");
        int e = 0;
        if (!(s > 0.0) || !std::isfinite(s) || std::frexp(s, &e) != 0.5) {
            throw argument_error("moments: the scale must be a power of two");
        }
        scale_ = s;
    }

    /// Adds every row of `rows`.
    template <element T>
    void add(const row_view<T>& rows) {
        check_dim(rows.cols);
        for (index_t first = 0; first < rows.rows; first += block_rows_) {
            const index_t k = std::min(block_rows_, rows.rows - first);
            detail::load_rows<Acc>(rows, first, k, block_buffer(k), scale_);
            add_block(buffer_.data(), k, true);
        }
    }

    /// Adds the rows of `rows` whose indices are listed (any order).
    template <element T>
    void add(const row_view<T>& rows, const std::vector<index_t>& indices) {
        check_dim(rows.cols);
        const auto total = static_cast<index_t>(indices.size());
        for (index_t first = 0; first < total; first += block_rows_) {
            const index_t k = std::min(block_rows_, total - first);
            detail::gather_rows<Acc>(rows, indices.data() + first, k, block_buffer(k), scale_);
            add_block(buffer_.data(), k, true);
        }
    }

    /// Adds `k` copies of the same row (zero scatter): the replacement rows
    /// of the replace-median outlier policy.
    void add_constant(const Eigen::Ref<const Eigen::VectorXd>& row, index_t k) {
        check_dim(row.size());
        if (k <= 0) return;
        merge_group(k, (row * scale_).template cast<Acc>().eval());
    }

    /// Adds a dense row-major block of k rows, already in Acc (and scaled). The block is
    /// centred in place (it is scratch space afterwards). If the storage
    /// behind `block` has room for a (k + 1)-th row, pass `spare_row = true`:
    /// the Chan correction then rides in the same rank-(k+1) update instead
    /// of a separate rank-1 pass over the d × d matrix.
    void add_block(Acc* block, index_t k, bool spare_row = false) {
        if (k <= 0) return;
        // The block seen column-major is d x k: one column per row.
        Eigen::Map<matrix_type> a(block, dim_, k);
        const vector_type bmean = a.rowwise().sum() / static_cast<Acc>(k);
        a.colwise() -= bmean;
        if (n_ > 0 && spare_row) {
            // Chan: M2 += A Aᵀ + (n k / (n + k)) δ δᵀ, as one update with the
            // extra column √w·δ.
            const double w = static_cast<double>(n_) * static_cast<double>(k) / static_cast<double>(n_ + k);
            Eigen::Map<vector_type>(block + k * dim_, dim_) = (bmean - mean_) * static_cast<Acc>(std::sqrt(w));
            backend::active::syrk_lower<Acc>(dim_, k + 1, block, m2_.data());
            fold_mean(k, bmean);
            return;
        }
        backend::active::syrk_lower<Acc>(dim_, k, block, m2_.data());
        merge_group(k, bmean);
    }

    /// Merges another accumulator (Chan). Equals accumulating the union.
    void merge(const moments& other) {
        if (other.n_ == 0) return;
        if (n_ == 0) {
            const index_t br = block_rows_;
            *this = other;
            block_rows_ = br;
            return;
        }
        check_dim(other.dim_);
        if (other.scale_ != scale_) throw argument_error("moments: merging accumulators of different scales");
        m2_.template triangularView<Eigen::Lower>() += other.m2_;
        merge_group(other.n_, other.mean_);
    }

    /// Scatter matrix Σ (x − μ)(x − μ)ᵀ in fp64, full symmetric storage.
    [[nodiscard]] Eigen::MatrixXd scatter() const {
        Eigen::MatrixXd s = m2_.template cast<double>();
        if (scale_ != 1.0) {
            s *= 1.0 / scale_;  // twice, not 1/scale², which can overflow; exact: a power of two
            s *= 1.0 / scale_;
        }
        s.template triangularView<Eigen::StrictlyUpper>() = s.transpose();
        return s;
    }

    /// Mean in fp64 (unscaled).
    [[nodiscard]] Eigen::VectorXd mean_f64() const {
        Eigen::VectorXd m = mean_.template cast<double>();
        if (scale_ != 1.0) m *= 1.0 / scale_;
        return m;
    }

    /// Covariance with Bessel's correction (count − 1); needs count ≥ 2.
    [[nodiscard]] Eigen::MatrixXd covariance() const {
        if (n_ < 2) {
            throw too_few_rows_error("moments: a covariance needs at least 2 rows, got " + std::to_string(n_));
        }
        return scatter() / static_cast<double>(n_ - 1);
    }

    /// Every field of the state, for saving, loading and sending it
    /// (mir/source/saved_state.hpp): `v(name, field)` for the count, the
    /// scale and the mean, and for the scatter matrix wrapped in
    /// lower_triangle (only its lower triangle is state). A visitor that
    /// writes into the fields loads a state; the dimension is the
    /// constructor's.
    template <class Visitor>
    void visit_state(Visitor&& v) {
        v("count", n_);
        v("scale", scale_);
        v("mean", mean_);
        v("m2", lower_triangle<matrix_type>{m2_, n_ == 0});  // after "count": a loader knows n_ here
    }

    /// Throws argument_error (prefixed with `where`) unless a loaded state is
    /// consistent: sizes, a non-negative count, a power-of-two scale, finite values.
    void check_state(const std::string& where) const {
        int e = 0;
        if (mean_.size() != dim_ || m2_.rows() != dim_ || m2_.cols() != dim_ || n_ < 0 || !(scale_ > 0.0) ||
            !std::isfinite(scale_) || std::frexp(scale_, &e) != 0.5) {
            throw argument_error(where + ": inconsistent moments state (sizes, count or scale)");
        }
        if (!mean_.allFinite() || !m2_.template triangularView<Eigen::Lower>().toDenseMatrix().allFinite()) {
            throw argument_error(where + ": the moments hold non-finite values");
        }
    }

private:
    void check_dim(index_t d) const {
        if (d != dim_) {
            throw shape_error("moments: rows of dimension " + std::to_string(d) +
                              " added to an accumulator of dimension " + std::to_string(dim_));
        }
    }

    // Room for k rows plus the spare row of add_block.
    Acc* block_buffer(index_t k) {
        buffer_.resize(static_cast<std::size_t>((k + 1) * dim_));
        return buffer_.data();
    }

    // Updates count and mean for a group of k rows with mean gmean.
    template <class V>
    void fold_mean(index_t k, const V& gmean) {
        if (n_ == 0) {
            mean_ = gmean;
        } else {
            mean_ += (gmean - mean_) * static_cast<Acc>(static_cast<double>(k) / static_cast<double>(n_ + k));
        }
        n_ += k;
    }

    // Folds a group of k rows with mean gmean (its scatter already added to
    // m2_) into the running state: the Chan correction as a rank-1 update.
    template <class V>
    void merge_group(index_t k, const V& gmean) {
        if (n_ > 0) {
            delta_ = gmean - mean_;
            const Acc w = static_cast<Acc>(static_cast<double>(n_) * static_cast<double>(k) /
                                           static_cast<double>(n_ + k));
            backend::active::syr_lower<Acc>(dim_, w, delta_.data(), m2_.data());
        }
        fold_mean(k, gmean);
    }

    index_t dim_ = 0;
    index_t block_rows_ = default_block_rows;
    index_t n_ = 0;
    double scale_ = 1.0;  // rows are multiplied by it before narrowing
    vector_type mean_;
    matrix_type m2_;  // lower triangle holds the scatter matrix
    vector_type delta_;
    std::vector<Acc> buffer_;
};

}  // namespace mir
