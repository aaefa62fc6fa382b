// mir/linalg/sqrt_catalogue.hpp — the one table of ways to obtain
// Tr (S1 S2)^{1/2}. The program's --sqrt choices and help, the JSON fields a
// result carries and the square-root benchmark's variants are derived from
// it; a new method is a header in linalg/ plus a row here (and its case in
// approximate_sqrt, mir/linalg/sqrt_methods.hpp). Rows with `compute` false
// (reference-fast) are the benchmark's only: `mir compute` does not offer them.
#pragma once

#include <array>
#include <span>
#include <string>
#include <string_view>

#include "mir/error.hpp"

namespace mir {

/// How the Fréchet distance obtains its trace square root term.
enum class sqrt_method {
    exact,           ///< Σ √λ(S1 S2), eigenvalues of the symmetric similar form (default)
    reference_fast,  ///< Tr(S1 S2): the official "fast" loop in exact arithmetic (SPEC §3); bench-sqrt only
    official_fast,   ///< EMULATION of the official fast mode's float32 output (mir/linalg/official_fast.hpp)
    newton_schulz,   ///< coupled Newton–Schulz iteration (SPEC §4), mir/linalg/newton_schulz.hpp
    denman_beavers,  ///< scaled Denman–Beavers iteration, mir/linalg/denman_beavers.hpp
    pade,            ///< [m/n] matrix Padé approximant (Song et al. 2022), mir/linalg/pade.hpp
    taylor,          ///< matrix Taylor polynomial (Song et al. 2022), mir/linalg/taylor.hpp
};

/// What a method is, for the program, the JSON and the benchmark.
struct sqrt_method_info {
    sqrt_method method;
    std::string_view name;     ///< the spelling of --sqrt and of JSON "sqrt"
    std::string_view summary;  ///< one line for --help
    bool iterative;            ///< iterates to a tolerance: tol, max_iter, iterations and a status apply
    bool has_residual;         ///< reports a residual of its own
    bool has_fp32;             ///< can run in fp32 (sqrt_options::precision)
    bool approximate;          ///< works on a d × d (or rank-r) form, not the exact eigenvalue route
    bool compute;              ///< offered by `mir compute --sqrt` (false: the square-root benchmark's only)
    bool emulation;            ///< reproduces another program's output, not a square root (labelled as such)
};

/// Every method, in the order the program lists them (the default first).
inline constexpr std::array<sqrt_method_info, 7> sqrt_catalogue{{
    {sqrt_method::exact, "exact", "eigenvalues of the symmetric similar form (default; exact)", false, false, false,
     false, true, false},
    {sqrt_method::newton_schulz, "newton-schulz", "coupled Newton-Schulz iteration (converges; GEMMs only)", true, true,
     true, true, true, false},
    {sqrt_method::denman_beavers, "denman-beavers", "scaled Denman-Beavers iteration (inverses)", true, true, true,
     true, true, false},
    {sqrt_method::pade, "pade", "[m/m] matrix Pade approximant (inaccurate for MIR)", false, true, true, true, true,
     false},
    {sqrt_method::taylor, "taylor", "matrix Taylor polynomial (inaccurate for MIR)", false, true, true, true, true,
     false},
    {sqrt_method::official_fast, "official-fast",
     "EMULATION of the official fast mode (float32 loop, not a square root; only to compare with published MIR)", false,
     false, false, false, true, true},
    {sqrt_method::reference_fast, "reference-fast", "Tr(Sv St): the official fast loop in exact arithmetic", false,
     false, false, false, false, false},
}};

/// The catalogue row of a method.
[[nodiscard]] constexpr const sqrt_method_info& info(sqrt_method m) noexcept {
    for (const auto& i : sqrt_catalogue) {
        if (i.method == m) return i;
    }
    return sqrt_catalogue[0];  // unreachable for a valid enumerator
}

constexpr std::string_view to_string(sqrt_method m) noexcept { return info(m).name; }

/// True for the methods that iterate to a tolerance (and report iterations).
constexpr bool is_iterative(sqrt_method m) noexcept { return info(m).iterative; }

/// The method names, joined with `sep` (and `last` before the final one);
/// with `compute_only`, only the rows `mir compute` offers.
[[nodiscard]] inline std::string sqrt_method_names(std::string_view sep = ", ", std::string_view last = " or ",
                                                   bool compute_only = false) {
    std::string s;
    std::size_t n = 0, total = 0;
    for (const auto& i : sqrt_catalogue) total += !compute_only || i.compute ? 1 : 0;
    for (const auto& i : sqrt_catalogue) {
        if (compute_only && !i.compute) continue;
        if (n > 0) s += n + 1 == total ? last : sep;
        s += i.name;
        ++n;
    }
    return s;
}

/// Parses a catalogue name.
[[nodiscard]] inline sqrt_method parse_sqrt_method(std::string_view s) {
    for (const auto& i : sqrt_catalogue) {
        if (s == i.name) return i.method;
    }
    throw argument_error("unknown square-root method '" + std::string(s) + "' (expected " + sqrt_method_names() + ")");
}

/// Parses a name `mir compute` offers. The benchmark-only reference-fast
/// (Tr(Sv St), nobody's output) is refused with a pointer to official-fast.
[[nodiscard]] inline sqrt_method parse_compute_sqrt_method(std::string_view s) {
    for (const auto& i : sqrt_catalogue) {
        if (s != i.name) continue;
        if (i.compute) return i.method;
        if (i.method == sqrt_method::reference_fast) {
            throw argument_error(
                "--sqrt reference-fast was removed from mir compute: Tr(Sv St) is not what the official fast mode "
                "outputs; use --sqrt official-fast (an emulation of the official fast mode) to compare with "
                "published MIR, or exact (the default) for the true value");
        }
        break;
    }
    throw argument_error("unknown square-root method '" + std::string(s) + "' (expected " +
                         sqrt_method_names(", ", " or ", true) + ")");
}

}  // namespace mir
