// mir/detail/enum_name.hpp — enumerator names from a table indexed by the
// enumerator's value, so every to_string is one line and one table.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

namespace mir::detail {

template <class E, std::size_t N>
[[nodiscard]] constexpr std::string_view enum_name(E e, const std::array<std::string_view, N>& names) noexcept {
    const auto i = static_cast<std::size_t>(e);
    return i < N ? names[i] : std::string_view("?");
}

}  // namespace mir::detail
