// mir/source/vision_positions.hpp — which token positions of one sample are
// vision tokens: a mask (one entry per token, as in the dump files) or a
// list of [begin, end) ranges (as a tokenizer's image chunks give them).
// Stored as sorted, disjoint vision ranges either way.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/mask.hpp"

namespace mir {

class vision_positions {
public:
    using range = std::pair<index_t, index_t>;  ///< [begin, end)

    /// No positions: for samples whose layers arrive already split
    /// (hidden_state_sink::push_split).
    vision_positions() = default;

    /// One entry per token; nonzero = vision. The token count is the mask's
    /// length. The mask is copied (as ranges): it need not outlive the call.
    template <mask_element M>
    [[nodiscard]] static vision_positions from_mask(std::span<const M> mask) {
        vision_positions p;
        p.tokens_ = static_cast<index_t>(mask.size());
        p.given_ = true;
        for_each_mask_run(mask, [&](index_t b, index_t e, bool vision) {
            if (vision) p.ranges_.emplace_back(b, e);
        });
        return p;
    }
    template <mask_element M>
    [[nodiscard]] static vision_positions from_mask(std::span<M> mask) {
        return from_mask(std::span<const M>(mask));
    }
    [[nodiscard]] static vision_positions from_mask(const std::vector<std::uint8_t>& mask) {
        return from_mask(std::span<const std::uint8_t>(mask));
    }
    /// std::vector<bool> is bit-packed (no span of it): copied to bytes.
    [[nodiscard]] static vision_positions from_mask(const std::vector<bool>& mask) {
        const std::vector<std::uint8_t> bytes(mask.begin(), mask.end());
        return from_mask(std::span<const std::uint8_t>(bytes));
    }

    /// Vision ranges [begin, end), sorted and disjoint (adjacent ones are
    /// merged). `tokens`: the sample's token count, or -1 when it is only
    /// known once the rows arrive.
    [[nodiscard]] static vision_positions from_ranges(std::vector<range> ranges, index_t tokens = -1) {
        vision_positions p;
        p.tokens_ = tokens;
        p.given_ = true;
        index_t last_end = 0;
        for (std::size_t i = 0; i < ranges.size(); ++i) {
            const auto [b, e] = ranges[i];
            const std::string where = "vision range " + std::to_string(i) + " [" + std::to_string(b) + ", " +
                                      std::to_string(e) + ")";
            if (b < 0 || e < b) throw argument_error(where + " is not a range of token positions (need 0 <= begin <= end)");
            if (b < last_end) throw argument_error(where + " overlaps or precedes the previous one (sort them)");
            if (tokens >= 0 && e > tokens) {
                throw argument_error(where + " ends past the sample's " + std::to_string(tokens) + " tokens");
            }
            last_end = e;
            if (b == e) continue;
            if (!p.ranges_.empty() && p.ranges_.back().second == b) {
                p.ranges_.back().second = e;
            } else {
                p.ranges_.emplace_back(b, e);
            }
        }
        return p;
    }

    /// Whether positions were given (a mask or ranges, possibly empty).
    [[nodiscard]] bool given() const noexcept { return given_; }
    /// The sample's token count, -1 when not known in advance.
    [[nodiscard]] index_t tokens() const noexcept { return tokens_; }
    /// One past the last vision position (0 without vision tokens).
    [[nodiscard]] index_t end() const noexcept { return ranges_.empty() ? 0 : ranges_.back().second; }
    [[nodiscard]] const std::vector<range>& ranges() const noexcept { return ranges_; }
    /// Vision tokens in all.
    [[nodiscard]] index_t vision_count() const noexcept {
        index_t n = 0;
        for (const auto& [b, e] : ranges_) n += e - b;
        return n;
    }

    /// Maximal runs of one modality within positions [first, first + count):
    /// fn(begin, end, is_vision) in absolute positions, in order.
    template <class Fn>
    void for_each_run(index_t first, index_t count, Fn&& fn) const {
        const index_t last = first + count;
        auto it = std::upper_bound(ranges_.begin(), ranges_.end(), first,
                                   [](index_t pos, const range& r) { return pos < r.second; });
        index_t at = first;
        for (; at < last && it != ranges_.end(); ++it) {
            const index_t b = std::max(it->first, at), e = std::min(it->second, last);
            if (b >= last) break;
            if (at < b) fn(at, b, false);
            fn(b, e, true);
            at = e;
        }
        if (at < last) fn(at, last, false);
    }

private:
    std::vector<range> ranges_;
    index_t tokens_ = -1;
    bool given_ = false;
};

}  // namespace mir
