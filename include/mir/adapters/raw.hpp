// mir/adapters/raw.hpp — raw strided memory with a dtype tag: the adapter
// for frameworks without one of their own (ggml, custom buffers, C APIs).
//
//     mir::raw_tensor t{ptr, mir::dtype::bf16, {tokens, hidden}, {row_stride, 1}};
//     sink.push(layer, t);
//
// Strides are in elements (not bytes), may be zero or negative, and an empty
// stride list means compact row-major. The pointer is borrowed: the memory
// must outlive every use of the tensor.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "mir/adapters/adapter.hpp"
#include "mir/element.hpp"

namespace mir {

/// A borrowed N-d tensor in host memory (N >= 2; the last dimension is the
/// hidden size, the others merge into the token index).
struct raw_tensor {
    const void* data = nullptr;
    dtype type = dtype::f32;
    std::vector<index_t> shape;
    std::vector<index_t> strides;  ///< in elements; empty = compact row-major

    raw_tensor() = default;
    raw_tensor(const void* d, dtype t, std::vector<index_t> shp, std::vector<index_t> str = {})
        : data(d), type(t), shape(std::move(shp)), strides(std::move(str)) {}
};

template <>
struct tensor_adapter<raw_tensor> {
    static any_strided_rows rows(const raw_tensor& t) {
        const std::vector<index_t> strides = t.strides.empty() ? detail::compact_strides(t.shape) : t.strides;
        const std::string what = "raw tensor (" + std::string(to_string(t.type)) + ")";
        switch (t.type) {
            case dtype::f16: return from<half>(t, strides, what);
            case dtype::bf16: return from<bfloat16>(t, strides, what);
            case dtype::f32: return from<float>(t, strides, what);
            case dtype::f64: return from<double>(t, strides, what);
        }
        throw argument_error(what + ": unknown dtype tag " + std::to_string(static_cast<int>(t.type)));
    }

private:
    template <element T>
    static any_strided_rows from(const raw_tensor& t, const std::vector<index_t>& strides, const std::string& what) {
        return detail::rows_from_shape(static_cast<const T*>(t.data), t.shape, strides, what);
    }
};

}  // namespace mir
