// tests/fuzz/fuzz_common.hpp — what every fuzz target does with a tensor
// it was given: read every element (through visit_rows for floating types)
// so that out-of-bounds views show up under ASan.
#pragma once

#include <mir/io/tensor.hpp>

#include <cstddef>
#include <cstdint>

namespace mir_fuzz {

inline double touch(const mir::io::tensor_view& t) {
    double sink = 0;
    if (mir::io::is_floating(t.dtype)) {
        mir::io::visit_all_rows(t, [&](auto rows) {
            if (rows.cols == 0) return;  // [huge, 0]: nothing to read
            for (mir::index_t r = 0; r < rows.rows; ++r) {
                for (mir::index_t c = 0; c < rows.cols; ++c) sink += mir::to_acc<double>(rows.row(r)[c]);
            }
        });
    } else {
        for (std::size_t i = 0; i < t.nbytes; ++i) sink += std::to_integer<int>(t.data[i]);
    }
    return sink;
}

}  // namespace mir_fuzz
