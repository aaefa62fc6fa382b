// mir/moca/layer.hpp — one decoder layer's MoCa calibration (SPEC §5):
// the parameters u (scale) and v (shift), the forward pass
//     ψ(h) = u ⊙ h + v   on the vision rows of a [T, d] block,
// and its backward pass.
//
// Behaviour of the official module, reproduced here:
//   * the arithmetic is float32 for f16, bf16 and f32 rows — the row and the
//     parameters are converted to float, the product and the sum are rounded
//     separately (two elementwise ops, no fused multiply-add), and the result
//     is cast back to the input type; f64 rows are computed in double;
//   * text rows are left untouched (bit-identical, also out of place);
//   * the calibration is applied only when the block has T > 1 rows (prefill,
//     not single-token decoding); forward_options::prefill_only = false turns
//     that rule off.
//
// Backward (SPEC §5), with g = ∂L/∂ψ(h) on the rows of one block:
//     ∂L/∂u += Σ_vision rows g ⊙ h,   ∂L/∂v += Σ_vision rows g,
//     ∂L/∂h  = u ⊙ g on vision rows,  g on text rows.
// The cast back to the input type is treated as the identity (as autograd
// does for .to(dtype)). Parameter gradients are accumulated in double across
// calls, so a batch is one call per sequence.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"

namespace mir::moca {

/// A writable view of `rows` rows of `cols` elements; row i starts at
/// data + i * row_stride (row_stride >= cols, in elements).
template <element T>
struct mutable_rows {
    T* data = nullptr;
    index_t rows = 0;
    index_t cols = 0;
    index_t row_stride = 0;

    constexpr mutable_rows() = default;
    constexpr mutable_rows(T* d, index_t r, index_t c, index_t stride) noexcept
        : data(d), rows(r), cols(c), row_stride(stride) {}
    constexpr mutable_rows(T* d, index_t r, index_t c) noexcept : mutable_rows(d, r, c, c) {}

    [[nodiscard]] constexpr T* row(index_t i) const noexcept { return data + i * row_stride; }
    /// The same rows, read-only.
    [[nodiscard]] constexpr row_view<T> view() const noexcept { return {data, rows, cols, row_stride}; }
};

/// A half-open range [first, last) of token positions.
struct token_range {
    index_t first = 0;
    index_t last = 0;
};

/// Which positions of a block are vision tokens: sorted, disjoint,
/// non-empty ranges, built from a mask or from ranges.
class vision_positions {
public:
    vision_positions() = default;

    /// From a mask of one entry per position (non-zero = vision).
    template <class M>
        requires std::same_as<M, bool> || std::same_as<M, std::uint8_t>
    [[nodiscard]] static vision_positions from_mask(std::span<const M> mask) {
        vision_positions p;
        p.length_ = static_cast<index_t>(mask.size());
        index_t i = 0;
        const auto n = static_cast<index_t>(mask.size());
        while (i < n) {
            if (!mask[static_cast<std::size_t>(i)]) {
                ++i;
                continue;
            }
            const index_t first = i;
            while (i < n && mask[static_cast<std::size_t>(i)]) ++i;
            p.ranges_.push_back({first, i});
        }
        return p;
    }

    /// From position ranges in any order; empty ranges are ignored. Throws
    /// argument_error for negative or reversed ranges and for overlaps.
    [[nodiscard]] static vision_positions from_ranges(std::vector<token_range> ranges) {
        vision_positions p;
        std::erase_if(ranges, [](const token_range& r) { return r.first == r.last; });
        for (const auto& r : ranges) {
            if (r.first < 0 || r.last < r.first) {
                throw argument_error("moca: vision range [" + std::to_string(r.first) + ", " +
                                     std::to_string(r.last) + ") is not a valid position range");
            }
        }
        std::sort(ranges.begin(), ranges.end(), [](const token_range& a, const token_range& b) { return a.first < b.first; });
        for (std::size_t k = 1; k < ranges.size(); ++k) {
            if (ranges[k].first < ranges[k - 1].last) {
                throw argument_error("moca: vision ranges [" + std::to_string(ranges[k - 1].first) + ", " +
                                     std::to_string(ranges[k - 1].last) + ") and [" + std::to_string(ranges[k].first) +
                                     ", " + std::to_string(ranges[k].last) + ") overlap");
            }
        }
        p.ranges_ = std::move(ranges);
        p.length_ = -1;
        return p;
    }

    [[nodiscard]] const std::vector<token_range>& ranges() const noexcept { return ranges_; }
    /// The mask length it was built from, or -1 when built from ranges.
    [[nodiscard]] index_t mask_length() const noexcept { return length_; }
    [[nodiscard]] index_t count() const noexcept {
        index_t n = 0;
        for (const auto& r : ranges_) n += r.last - r.first;
        return n;
    }

    /// Throws shape_error unless the positions fit a block of `rows` rows.
    void check(index_t rows, std::string_view what) const {
        if (length_ >= 0 && length_ != rows) {
            throw shape_error(std::string(what) + ": the vision mask has " + std::to_string(length_) +
                              " entries but the block has " + std::to_string(rows) + " rows");
        }
        if (!ranges_.empty() && ranges_.back().last > rows) {
            throw shape_error(std::string(what) + ": vision range [" + std::to_string(ranges_.back().first) + ", " +
                              std::to_string(ranges_.back().last) + ") lies outside a block of " +
                              std::to_string(rows) + " rows");
        }
    }

private:
    std::vector<token_range> ranges_;
    index_t length_ = -1;
};

/// Options of the forward and backward passes.
struct forward_options {
    /// Apply only when the block has more than one row, as the official
    /// module does (no calibration while decoding token by token).
    bool prefill_only = true;
};

/// The type the arithmetic runs in for rows of type T: float, or double
/// for double rows.
template <element T>
using compute_type = std::conditional_t<std::same_as<T, double>, double, float>;

/// Gradients of the parameters, accumulated in double.
struct gradients {
    Eigen::VectorXd scale;  ///< ∂L/∂u
    Eigen::VectorXd shift;  ///< ∂L/∂v

    gradients() = default;
    explicit gradients(index_t d) : scale(Eigen::VectorXd::Zero(d)), shift(Eigen::VectorXd::Zero(d)) {}
    void zero() {
        scale.setZero();
        shift.setZero();
    }
};

/// One decoder layer's calibration: scale u and shift v, each of size d.
/// Kept in double; converted to the compute type at use (exact for values
/// read from F32/BF16/F16 checkpoints).
struct layer_calibration {
    Eigen::VectorXd scale;  ///< u
    Eigen::VectorXd shift;  ///< v

    layer_calibration() = default;
    /// The identity: u = 1, v = 0 (the paper's initialisation).
    explicit layer_calibration(index_t d) : scale(Eigen::VectorXd::Ones(d)), shift(Eigen::VectorXd::Zero(d)) {}
    layer_calibration(Eigen::VectorXd u, Eigen::VectorXd v) : scale(std::move(u)), shift(std::move(v)) {
        if (scale.size() != shift.size()) {
            throw shape_error("moca::layer_calibration: scale has " + std::to_string(scale.size()) + " entries but shift has " +
                              std::to_string(shift.size()));
        }
    }

    [[nodiscard]] index_t dim() const noexcept { return scale.size(); }

    /// Whether forward changes a block of `rows` rows under `opt`.
    [[nodiscard]] static bool applies(index_t rows, const forward_options& opt) noexcept {
        return !opt.prefill_only || rows > 1;
    }
};

namespace detail {

template <element T>
void check_rows(const layer_calibration& p, index_t rows, index_t cols, index_t stride, const void* data, std::string_view what) {
    if (rows < 0 || cols < 0) throw shape_error(std::string(what) + ": negative shape");
    if (rows > 0 && cols > 0 && data == nullptr) throw shape_error(std::string(what) + ": null data pointer");
    if (rows > 1 && stride < cols) {
        throw shape_error(std::string(what) + ": row stride " + std::to_string(stride) +
                          " is smaller than the row length " + std::to_string(cols));
    }
    if (cols != p.dim()) {
        throw shape_error(std::string(what) + ": rows have " + std::to_string(cols) +
                          " columns but the calibration has hidden size " + std::to_string(p.dim()));
    }
}

template <element T>
T from_compute(compute_type<T> x) noexcept {
    return static_cast<T>(x);
}

// Calibrates `count` elements: out[j] = T(C(u_j) * C(in[j]) + C(v_j)), the
// product and sum rounded separately in C.
template <element T>
void calibrate_row(const std::vector<compute_type<T>>& u, const std::vector<compute_type<T>>& v, const T* in, T* out,
                   index_t d) noexcept {
    using C = compute_type<T>;
    for (index_t j = 0; j < d; ++j) {
        volatile C prod = u[static_cast<std::size_t>(j)] * to_acc<C>(in[j]);  // no contraction into an FMA
        out[j] = from_compute<T>(prod + v[static_cast<std::size_t>(j)]);
    }
}

template <element T>
std::vector<compute_type<T>> to_compute(const Eigen::VectorXd& x) {
    std::vector<compute_type<T>> out(static_cast<std::size_t>(x.size()));
    for (index_t j = 0; j < x.size(); ++j) out[static_cast<std::size_t>(j)] = static_cast<compute_type<T>>(x[j]);
    return out;
}

}  // namespace detail

/// In place: calibrates the vision rows of `h` ([T, d]). Returns whether the
/// calibration was applied (false when the T = 1 rule skipped it).
template <element T>
bool forward_inplace(const layer_calibration& p, mutable_rows<T> h, const vision_positions& vision,
                     const forward_options& opt = {}) {
    detail::check_rows<T>(p, h.rows, h.cols, h.row_stride, h.data, "moca forward");
    vision.check(h.rows, "moca forward");
    if (!layer_calibration::applies(h.rows, opt)) return false;
    const auto u = detail::to_compute<T>(p.scale);
    const auto v = detail::to_compute<T>(p.shift);
    for (const auto& r : vision.ranges()) {
        for (index_t i = r.first; i < r.last; ++i) detail::calibrate_row<T>(u, v, h.row(i), h.row(i), h.cols);
    }
    return true;
}

/// Out of place: writes the calibrated block to `out` (same shape as `in`;
/// strides may differ); text rows are copied unchanged. Returns whether the
/// calibration was applied. `in` and `out` must not overlap unless they are
/// the same rows (then prefer forward_inplace).
template <element T>
bool forward(const layer_calibration& p, const row_view<T>& in, mutable_rows<T> out, const vision_positions& vision,
             const forward_options& opt = {}) {
    detail::check_rows<T>(p, in.rows, in.cols, in.row_stride, in.data, "moca forward input");
    detail::check_rows<T>(p, out.rows, out.cols, out.row_stride, out.data, "moca forward output");
    if (out.rows != in.rows) {
        throw shape_error("moca forward: the output has " + std::to_string(out.rows) + " rows but the input has " +
                          std::to_string(in.rows));
    }
    vision.check(in.rows, "moca forward");
    const bool apply = layer_calibration::applies(in.rows, opt);
    const auto u = detail::to_compute<T>(p.scale);
    const auto v = detail::to_compute<T>(p.shift);
    const auto& ranges = vision.ranges();
    std::size_t k = 0;
    for (index_t i = 0; i < in.rows; ++i) {
        while (k < ranges.size() && ranges[k].last <= i) ++k;
        const bool is_vision = k < ranges.size() && ranges[k].first <= i;
        if (apply && is_vision) {
            detail::calibrate_row<T>(u, v, in.row(i), out.row(i), in.cols);
        } else if (out.row(i) != in.row(i)) {
            std::copy(in.row(i), in.row(i) + in.cols, out.row(i));
        }
    }
    return apply;
}

/// Backward through forward(p, h, ·, vision, opt) for one block: adds
/// Σ g ⊙ h and Σ g over the vision rows to `grads` (in double), and, when
/// `grad_input` is given, writes ∂L/∂h (u ⊙ g on vision rows, computed in
/// the compute type and cast back; g on text rows, copied). When the T = 1
/// rule skipped the forward pass, nothing is added and ∂L/∂h = g. Returns
/// whether the calibration applied.
template <element T>
bool backward(const layer_calibration& p, const row_view<T>& h, const row_view<T>& grad_output, const vision_positions& vision,
              gradients& grads, mutable_rows<T>* grad_input = nullptr, const forward_options& opt = {}) {
    using C = compute_type<T>;
    detail::check_rows<T>(p, h.rows, h.cols, h.row_stride, h.data, "moca backward input");
    detail::check_rows<T>(p, grad_output.rows, grad_output.cols, grad_output.row_stride, grad_output.data,
                          "moca backward output gradient");
    if (grad_output.rows != h.rows) {
        throw shape_error("moca backward: the output gradient has " + std::to_string(grad_output.rows) +
                          " rows but the input has " + std::to_string(h.rows));
    }
    if (grad_input) {
        detail::check_rows<T>(p, grad_input->rows, grad_input->cols, grad_input->row_stride, grad_input->data,
                              "moca backward input gradient");
        if (grad_input->rows != h.rows) {
            throw shape_error("moca backward: the input gradient has " + std::to_string(grad_input->rows) +
                              " rows but the input has " + std::to_string(h.rows));
        }
    }
    vision.check(h.rows, "moca backward");
    const index_t d = p.dim();
    if (grads.scale.size() == 0 && grads.shift.size() == 0) grads = gradients(d);
    if (grads.scale.size() != d || grads.shift.size() != d) {
        throw shape_error("moca backward: the gradient accumulator has size " + std::to_string(grads.scale.size()) +
                          " but the calibration has hidden size " + std::to_string(d));
    }
    const bool apply = layer_calibration::applies(h.rows, opt);
    const auto u = detail::to_compute<T>(p.scale);
    const auto& ranges = vision.ranges();
    std::size_t k = 0;
    for (index_t i = 0; i < h.rows; ++i) {
        while (k < ranges.size() && ranges[k].last <= i) ++k;
        const bool is_vision = apply && k < ranges.size() && ranges[k].first <= i;
        const T* g = grad_output.row(i);
        if (is_vision) {
            const T* x = h.row(i);
            for (index_t j = 0; j < d; ++j) {
                const double gj = to_acc<double>(g[j]);
                grads.scale[j] += gj * to_acc<double>(x[j]);
                grads.shift[j] += gj;
            }
            if (grad_input) {
                T* out = grad_input->row(i);
                for (index_t j = 0; j < d; ++j) {
                    out[j] = static_cast<T>(u[static_cast<std::size_t>(j)] * to_acc<C>(g[j]));
                }
            }
        } else if (grad_input && grad_input->row(i) != g) {
            std::copy(g, g + d, grad_input->row(i));
        }
    }
    return apply;
}

}  // namespace mir::moca
