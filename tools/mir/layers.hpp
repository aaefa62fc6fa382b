// tools/mir/layers.hpp — the --layers syntax: "all", "1-32", "1,4,8",
// combinations like "1-4,8"; default: every index but 0 (official code).
#pragma once

#include "usage.hpp"

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace mir::tool {

/// Hidden-state indices selected by `spec` among 0..num_indices-1.
/// Ranges are inclusive; the result is sorted and without duplicates.
inline std::vector<int> parse_layers(std::string_view spec, int num_indices) {
    std::vector<int> out;
    const auto bad = [&](const std::string& why) {
        return usage_error("--layers '" + std::string(spec) + "': " + why + " (the files have indices 0.." +
                           std::to_string(num_indices - 1) + ")");
    };
    if (spec.empty() || spec == "default") {
        for (int k = 1; k < num_indices; ++k) out.push_back(k);
        if (out.empty()) throw bad("the default (1..K) is empty: the files hold only index 0");
        return out;
    }
    if (spec == "all") {
        for (int k = 0; k < num_indices; ++k) out.push_back(k);
        return out;
    }
    const auto number = [&](std::string_view s) {
        if (s.empty() || s.size() > 6 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            throw bad("'" + std::string(s) + "' is not a layer index");
        }
        const int v = std::stoi(std::string(s));
        if (v >= num_indices) throw bad("layer " + std::to_string(v) + " is out of range");
        return v;
    };
    std::size_t start = 0;
    while (start <= spec.size()) {
        const std::size_t comma = std::min(spec.find(',', start), spec.size());
        const std::string_view item = spec.substr(start, comma - start);
        const std::size_t dash = item.find('-');
        if (dash == std::string_view::npos) {
            out.push_back(number(item));
        } else {
            const int a = number(item.substr(0, dash)), b = number(item.substr(dash + 1));
            if (a > b) throw bad("range " + std::string(item) + " is empty");
            for (int k = a; k <= b; ++k) out.push_back(k);
        }
        start = comma + 1;
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

}  // namespace mir::tool
