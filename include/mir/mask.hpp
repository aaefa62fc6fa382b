// mir/mask.hpp — per-token masks (one entry per token, 1 = in the set), as
// dump files and tokenizers give them, the role each token position plays
// (vision, text, or neither: SPEC §6–7), and runs of equal value: the unit
// in which rows of one sample reach the statistics.
#pragma once

#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"

namespace mir {

/// Accepted mask element types (numpy bool and uint8 are one byte).
template <class M>
concept mask_element = std::same_as<M, bool> || std::same_as<M, std::uint8_t>;

/// What one token position contributes. With only a vision mask every
/// other position is text; with a text mask too, positions in neither are
/// ignored (the official protocol leaves BOS and the system prompt out).
enum class token_role : std::uint8_t { text, vision, ignored };

constexpr std::string_view to_string(token_role r) noexcept {
    return r == token_role::vision ? "vision" : r == token_role::text ? "text" : "ignored";
}

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

/// Maximal runs [begin, end) of one role; fn(begin, end, role).
template <class Fn>
void for_each_role_run(std::span<const token_role> roles, Fn&& fn) {
    index_t begin = 0;
    const auto n = static_cast<index_t>(roles.size());
    for (index_t i = 1; i <= n; ++i) {
        if (i == n || roles[static_cast<std::size_t>(i)] != roles[static_cast<std::size_t>(begin)]) {
            fn(begin, i, roles[static_cast<std::size_t>(begin)]);
            begin = i;
        }
    }
}

/// The roles of a sample's positions from its vision mask and, when not
/// empty, its text mask (nonzero = in the set). Throws mir::shape_error when
/// the masks differ in length and mir::argument_error naming the first
/// position that is in both.
template <mask_element MV, mask_element MT>
[[nodiscard]] std::vector<token_role> token_roles(std::span<const MV> vision, std::span<const MT> text) {
    if (!text.empty() && text.size() != vision.size()) {
        throw shape_error("the text mask has " + std::to_string(text.size()) + " entries and the vision mask " +
                          std::to_string(vision.size()) + "; they need one entry per token each");
    }
    std::vector<token_role> roles(vision.size(), token_role::text);
    for (std::size_t i = 0; i < vision.size(); ++i) {
        const bool v = static_cast<bool>(vision[i]);
        if (text.empty()) {
            roles[i] = v ? token_role::vision : token_role::text;
            continue;
        }
        const bool t = static_cast<bool>(text[i]);
        if (v && t) {
            throw argument_error("token position " + std::to_string(i) +
                                 " is in both the vision mask and the text mask; a position is one or the other");
        }
        roles[i] = v ? token_role::vision : t ? token_role::text : token_role::ignored;
    }
    return roles;
}

/// Vision mask only: every non-vision position is text.
template <mask_element MV>
[[nodiscard]] std::vector<token_role> token_roles(std::span<const MV> vision) {
    return token_roles(vision, std::span<const std::uint8_t>());
}

}  // namespace mir
