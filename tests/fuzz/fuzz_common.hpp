// tests/fuzz/fuzz_common.hpp — what every fuzz target does with a tensor
// it was given: read every element (through visit_rows for floating types)
// so that out-of-bounds views show up under ASan; and the frame of a target
// (bytes in, mir::error the expected outcome for most inputs).
#pragma once

#include <mir/io/tensor.hpp>

#include <mir/error.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

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

/// Calls fn(bytes) and then read(thing, sink) for each element of what fn
/// returned; a rejected input (mir::error) is the expected outcome for most.
template <class Open, class Read>
int run_input(const std::uint8_t* data, std::size_t size, Open&& open, Read&& read) {
    try {
        auto thing = open(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size));
        volatile double sink = 0;
        read(thing, [&](double v) { sink = sink + v; });
    } catch (const mir::error&) {
    }
    return 0;
}

}  // namespace mir_fuzz
