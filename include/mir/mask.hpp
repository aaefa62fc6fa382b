// mir/mask.hpp — per-token masks (one entry per token, 1 = in the set), as
// dump files and tokenizers give them, and their runs of equal value: the
// unit in which rows of one sample reach the statistics.
#pragma once

#include <concepts>
#include <cstdint>
#include <span>

#include "mir/element.hpp"

namespace mir {

/// Accepted mask element types (numpy bool and uint8 are one byte).
template <class M>
concept mask_element = std::same_as<M, bool> || std::same_as<M, std::uint8_t>;

/// Maximal runs [begin, end) of equal mask values; fn(begin, end, value).
template <mask_element M, class Fn>
void for_each_mask_run(std::span<const M> mask, Fn&& fn) {
    index_t begin = 0;
    const auto n = static_cast<index_t>(mask.size());
    for (index_t i = 1; i <= n; ++i) {
        if (i == n || static_cast<bool>(mask[static_cast<std::size_t>(i)]) !=
                          static_cast<bool>(mask[static_cast<std::size_t>(begin)])) {
            fn(begin, i, static_cast<bool>(mask[static_cast<std::size_t>(begin)]));
            begin = i;
        }
    }
}

}  // namespace mir
