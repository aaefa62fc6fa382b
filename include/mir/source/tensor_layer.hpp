// mir/source/tensor_layer.hpp — one layer's FID from two tensors of any
// adapted framework (Eigen, xtensor, DLPack, libtorch, raw memory): vision
// rows and text rows, each [rows, hidden] (leading dimensions merge).
//
// Exact (the pipeline of compute_layer) without a full copy of either
// tensor: the rows are replayed block by block through
// compute_layer_multipass, so tensors that cannot be viewed in place
// (column-major, transposed) cost one copy block, not a second tensor.
#pragma once

#include <string>
#include <variant>

#include "mir/adapters/adapter.hpp"
#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/metric/layer.hpp"
#include "mir/metric/multipass.hpp"

namespace mir {

template <tensor_like XV, tensor_like XT>
[[nodiscard]] layer_result compute_layer_from_tensors(const XV& vision, const XT& text, const layer_options& opt = {}) {
    const any_strided_rows v = adapt(vision), t = adapt(text);
    const index_t dim = std::visit([](const auto& r) { return r.cols; }, v);
    const auto replay = [&](auto&& sink) {
        std::visit([&](const auto& r) { for_each_row_block(r, [&](const auto& b, index_t) { sink(true, b); }); }, v);
        std::visit([&](const auto& r) { for_each_row_block(r, [&](const auto& b, index_t) { sink(false, b); }); }, t);
    };
    return with_precision(opt.precision, [&]<class Acc>() { return compute_layer_multipass<Acc>(replay, dim, opt); });
}

}  // namespace mir
