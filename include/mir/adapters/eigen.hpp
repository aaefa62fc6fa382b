// mir/adapters/eigen.hpp — Eigen matrices as token rows (one token per row).
//
// Any Eigen object with direct access to its storage: Matrix, Array, Map,
// Ref, Block (rows, columns, sub-blocks), of float, double, Eigen::half or
// Eigen::bfloat16. Row-major storage with unit inner stride is viewed in
// place; column-major storage (Eigen's default) and other strides go through
// row-major block copies. Expressions without storage (a + b, a.transpose()
// of a temporary, …) must be evaluated first: call .eval().
#pragma once

#include <Eigen/Core>

#include <type_traits>

#include "mir/adapters/adapter.hpp"
#include "mir/element.hpp"

namespace mir {

namespace detail {

template <class X>
concept eigen_dense = std::is_base_of_v<Eigen::DenseBase<X>, X>;

template <class X>
concept eigen_direct = eigen_dense<X> && ((static_cast<unsigned>(X::Flags) & Eigen::DirectAccessBit) != 0);

}  // namespace detail

template <detail::eigen_dense X>
struct tensor_adapter<X> {
    static_assert(detail::eigen_direct<X>,
                  "mir: this Eigen expression has no storage to read; evaluate it first (.eval()) or pass a Matrix, "
                  "Map, Ref or Block");
    static_assert(element<typename X::Scalar>,
                  "mir: Eigen scalars must be float, double, Eigen::half or Eigen::bfloat16");

    static strided_rows<typename X::Scalar> rows(const X& x) {
        return {x.data(), static_cast<index_t>(x.rows()), static_cast<index_t>(x.cols()),
                static_cast<index_t>(x.rowStride()), static_cast<index_t>(x.colStride())};
    }
};

}  // namespace mir
