// `mir bench-sqrt`: the variants, derived from mir::sqrt_catalogue. Each
// method that is not approximate runs once as it is; each approximate one
// runs in fp64 and, when it has fp32, in fp32, the iterative ones on both
// forms (symmetric, product), the fixed-degree ones on the symmetric form.
// Benchmark-only extras: the official loop run literally (which is what the
// official-fast emulation runs, so that catalogue row is not repeated), and
// (--full) the option studies of Newton–Schulz and Denman–Beavers.
#include "bench_sqrt_detail.hpp"

namespace mir::tool::sqrt_bench {

namespace {

variant make(sqrt_method m, sqrt_form f, precision p, const std::string& extra = "",
             sqrt_normalization n = sqrt_normalization::frobenius, bool scaling = true) {
    sqrt_options o(m);
    o.form = f;
    o.precision = p;
    o.normalization = n;
    o.scaling = scaling;
    // Appended piece by piece: GCC 12 warns (-Wrestrict, falsely) on extra + "/" + ... here.
    std::string label(to_string(m));
    if (is_iterative(m)) label.append("/").append(to_string(f));
    label.append(extra).append("/").append(to_string(p));
    return {label, o, false};
}

}  // namespace

std::vector<variant> variants(bool full) {
    std::vector<variant> v;
    for (const auto& m : sqrt_catalogue) {
        if (!m.approximate && !m.emulation) v.push_back({std::string(m.name), sqrt_options(m.method), false});
    }
    v.push_back({"official-literal/fp32", sqrt_options(sqrt_method::reference_fast), true});
    for (auto p : {precision::fp64, precision::fp32}) {
        for (const auto& m : sqrt_catalogue) {
            if (!m.approximate || (p == precision::fp32 && !m.has_fp32)) continue;
            v.push_back(make(m.method, sqrt_form::symmetric, p));
            if (m.iterative) v.push_back(make(m.method, sqrt_form::product, p));
        }
        if (full) {
            const auto sym = sqrt_form::symmetric;
            v.push_back(make(sqrt_method::newton_schulz, sym, p, "-trace-norm", sqrt_normalization::trace));
            v.push_back(make(sqrt_method::denman_beavers, sym, p, "-unscaled", sqrt_normalization::frobenius, false));
        }
    }
    return v;
}

}  // namespace mir::tool::sqrt_bench
