// mir/source/vision_positions.hpp — which token positions of one sample are
// vision tokens and which are text: a mask (one entry per token, as in the
// dump files) or a list of [begin, end) ranges (as a tokenizer's image
// chunks give them). Without text positions every non-vision position is
// text; with them (SPEC §6: the official protocol counts only what follows
// the image block), positions in neither set are ignored. Stored as sorted,
// disjoint ranges either way.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
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

    /// A vision mask and a text mask (one entry each per token; nonzero = in
    /// the set): positions in neither are ignored. Throws mir::shape_error
    /// when the lengths differ, mir::argument_error naming a position in both.
    template <mask_element MV, mask_element MT>
    [[nodiscard]] static vision_positions from_masks(std::span<const MV> vision, std::span<const MT> text) {
        if (text.size() != vision.size()) {
            throw shape_error("the text mask has " + std::to_string(text.size()) + " entries and the vision mask " +
                              std::to_string(vision.size()) + "; they need one entry per token each");
        }
        const std::vector<token_role> roles = token_roles(vision, text);
        return from_roles(std::span<const token_role>(roles), true);
    }
    [[nodiscard]] static vision_positions from_masks(const std::vector<std::uint8_t>& vision,
                                                     const std::vector<std::uint8_t>& text) {
        return from_masks(std::span<const std::uint8_t>(vision), std::span<const std::uint8_t>(text));
    }

    /// One role per token (mir::token_roles, dump_file::roles()); `explicit_text`:
    /// whether text positions were given (then positions of neither role may
    /// occur and are ignored) or are simply every non-vision position.
    [[nodiscard]] static vision_positions from_roles(std::span<const token_role> roles, bool explicit_text) {
        vision_positions p;
        p.tokens_ = static_cast<index_t>(roles.size());
        p.given_ = true;
        p.text_given_ = explicit_text;
        for_each_role_run(roles, [&](index_t b, index_t e, token_role r) {
            if (r == token_role::vision) p.ranges_.emplace_back(b, e);
            if (r == token_role::text && explicit_text) p.text_.emplace_back(b, e);
            if (r == token_role::ignored && !explicit_text) {
                throw argument_error("token position " + std::to_string(b) +
                                     " is in neither set, but no text positions were given");
            }
        });
        return p;
    }

    /// Vision ranges [begin, end), sorted and disjoint (adjacent ones are
    /// merged). `tokens`: the sample's token count, or -1 when it is only
    /// known once the rows arrive.
    [[nodiscard]] static vision_positions from_ranges(std::vector<range> ranges, index_t tokens = -1) {
        vision_positions p;
        p.tokens_ = tokens;
        p.given_ = true;
        p.ranges_ = normalise(ranges, tokens, "vision");
        return p;
    }

    /// Vision and text ranges [begin, end), each sorted and disjoint, and
    /// disjoint from each other (mir::argument_error naming the first
    /// overlap); positions in neither are ignored. The official protocol:
    /// from_ranges({{img, img + 576}}, {{img + 576, T}}, T).
    [[nodiscard]] static vision_positions from_ranges(std::vector<range> vision, std::vector<range> text,
                                                      index_t tokens = -1) {
        vision_positions p;
        p.tokens_ = tokens;
        p.given_ = true;
        p.text_given_ = true;
        p.ranges_ = normalise(vision, tokens, "vision");
        p.text_ = normalise(text, tokens, "text");
        for (std::size_t i = 0, j = 0; i < p.ranges_.size() && j < p.text_.size();) {
            const auto& v = p.ranges_[i];
            const auto& t = p.text_[j];
            if (v.first < t.second && t.first < v.second) {
                const index_t at = std::max(v.first, t.first);
                throw argument_error("token position " + std::to_string(at) +
                                     " is in both a vision range and a text range; a position is one or the other");
            }
            (v.second <= t.second ? i : j) += 1;
        }
        return p;
    }

    /// Whether positions were given (a mask or ranges, possibly empty).
    [[nodiscard]] bool given() const noexcept { return given_; }
    /// The sample's token count, -1 when not known in advance.
    [[nodiscard]] index_t tokens() const noexcept { return tokens_; }
    /// One past the last vision position (0 without vision tokens).
    [[nodiscard]] index_t end() const noexcept { return ranges_.empty() ? 0 : ranges_.back().second; }
    /// The vision ranges.
    [[nodiscard]] const std::vector<range>& ranges() const noexcept { return ranges_; }
    /// Whether text positions were given (else: every non-vision position).
    [[nodiscard]] bool text_given() const noexcept { return text_given_; }
    /// The text ranges when given (empty otherwise).
    [[nodiscard]] const std::vector<range>& text_ranges() const noexcept { return text_; }
    /// One past the last position in either set (0 when there are none).
    [[nodiscard]] index_t last_used() const noexcept {
        return std::max(end(), text_.empty() ? index_t{0} : text_.back().second);
    }
    /// Vision tokens in all.
    [[nodiscard]] index_t vision_count() const noexcept {
        index_t n = 0;
        for (const auto& [b, e] : ranges_) n += e - b;
        return n;
    }

    /// Maximal runs of one modality within positions [first, first + count):
    /// fn(begin, end, is_vision) in absolute positions, in order. Ignored
    /// positions (in neither set, when text positions were given) are left out.
    template <class Fn>
    void for_each_run(index_t first, index_t count, Fn&& fn) const {
        const index_t last = first + count;
        auto from = [first](const std::vector<range>& rs) {
            return std::upper_bound(rs.begin(), rs.end(), first,
                                    [](index_t pos, const range& r) { return pos < r.second; });
        };
        if (text_given_) {
            // Both sets listed: merge the two sorted range lists, clipped.
            auto v = from(ranges_), t = from(text_);
            while (true) {
                const bool have_v = v != ranges_.end() && v->first < last;
                const bool have_t = t != text_.end() && t->first < last;
                if (!have_v && !have_t) break;
                const bool vision = have_v && (!have_t || v->first < t->first);
                const range& r = vision ? *v : *t;
                fn(std::max(r.first, first), std::min(r.second, last), vision);
                ++(vision ? v : t);
            }
            return;
        }
        auto it = from(ranges_);
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
    /// Checked, sorted, disjoint, adjacent ranges merged, empty ones dropped.
    static std::vector<range> normalise(const std::vector<range>& ranges, index_t tokens, std::string_view set) {
        std::vector<range> out;
        index_t last_end = 0;
        for (std::size_t i = 0; i < ranges.size(); ++i) {
            const auto [b, e] = ranges[i];
            const std::string where = std::string(set) + " range " + std::to_string(i) + " [" + std::to_string(b) +
                                      ", " + std::to_string(e) + ")";
            if (b < 0 || e < b)
                throw argument_error(where + " is not a range of token positions (need 0 <= begin <= end)");
            if (b < last_end) throw argument_error(where + " overlaps or precedes the previous one (sort them)");
            if (tokens >= 0 && e > tokens) {
                throw argument_error(where + " ends past the sample's " + std::to_string(tokens) + " tokens");
            }
            last_end = e;
            if (b == e) continue;
            if (!out.empty() && out.back().second == b) {
                out.back().second = e;
            } else {
                out.emplace_back(b, e);
            }
        }
        return out;
    }

    std::vector<range> ranges_;  // vision
    std::vector<range> text_;    // text, when text_given_
    index_t tokens_ = -1;
    bool given_ = false;
    bool text_given_ = false;
};

}  // namespace mir
