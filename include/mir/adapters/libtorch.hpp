// mir/adapters/libtorch.hpp — libtorch tensors (at::Tensor, torch::Tensor)
// as token rows.
//
// CPU tensors of half, bfloat16, float or double, strided layout, shape
// [tokens, hidden] or [1, tokens, hidden] (leading dimensions merge into the
// token index when their strides allow). Contiguous rows are read in place;
// other strides (a transpose, a column slice with a step) go through
// row-major block copies. GPU tensors are refused with an error naming the
// device: call .cpu() first. Needs libtorch; Debian's 1.13 headers compile
// with g++ 12 in C++20 but not with clang 14.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "mir/adapters/adapter.hpp"
#include "mir/element.hpp"
#include "mir/error.hpp"

namespace mir {

template <>
struct tensor_adapter<at::Tensor> {
    static any_strided_rows rows(const at::Tensor& t) {
        if (!t.defined()) throw argument_error("libtorch tensor: undefined tensor");
        if (!t.device().is_cpu()) {
            throw argument_error("libtorch tensor lives on " + t.device().str() +
                                 "; only CPU tensors can be read here: call .cpu() first");
        }
        if (t.layout() != at::kStrided) {
            throw argument_error("libtorch tensor has a non-strided layout (sparse or MKL-DNN); call .to_dense() first");
        }
        if (t.is_neg() || t.is_conj()) {
            throw argument_error("libtorch tensor is a lazily negated/conjugated view; call .resolve_neg() first");
        }
        const auto sizes = t.sizes();
        const auto strides = t.strides();
        const std::vector<index_t> shape(sizes.begin(), sizes.end());
        const std::vector<index_t> str(strides.begin(), strides.end());
        const std::string what = "libtorch tensor (" + std::string(c10::toString(t.scalar_type())) + ")";
        const void* p = t.data_ptr();  // includes the storage offset
        switch (t.scalar_type()) {
            case at::kHalf: return detail::rows_from_shape(static_cast<const half*>(p), shape, str, what);
            case at::kBFloat16: return detail::rows_from_shape(static_cast<const bfloat16*>(p), shape, str, what);
            case at::kFloat: return detail::rows_from_shape(static_cast<const float*>(p), shape, str, what);
            case at::kDouble: return detail::rows_from_shape(static_cast<const double*>(p), shape, str, what);
            default:
                throw argument_error(what + ": unsupported dtype; expected half, bfloat16, float or double");
        }
    }
};

}  // namespace mir
