// The emulation of the official fast mode (--sqrt official-fast, SPEC §3,
// mir/linalg/official_fast.hpp): what its loop returns on well- and
// ill-conditioned inputs, and agreement with EVERY official-fast value in
// golden/ (values the official code returned, PyTorch 1.13, CPU, float32):
// MIR within 1e-3 absolute, each layer within 2e-3 of the case's FID sum.
// The worst differences of each file are printed (WARN) and recorded in
// docs/comparing.md.
#include <catch2/catch.hpp>

#include <mir/mir.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "../support/golden.hpp"

namespace {

using mir_test::dump;

/// MIR through the per-layer API under the official 3σ rule (replace-median).
template <class T>
mir::mir_result per_layer(const dump<T>& g, const std::vector<int>& layers, mir::sqrt_method sq) {
    return mir_test::per_layer_api(g, layers, mir::outlier_policy::replace_median, sq);
}

/// The worst differences of one file against its official-fast values.
struct agreement {
    double mir = 0.0;           ///< |MIR − official|
    double layer_of_sum = 0.0;  ///< max |FID_k − official_k| / Σ official_k
    double layer_rel = 0.0;     ///< max |FID_k − official_k| / official_k
};

agreement compare(const mir::mir_result& r, const nlohmann::json& exp, const std::string& name) {
    const auto pl = exp.at("per_layer").get<std::vector<double>>();
    REQUIRE(r.layers.size() == pl.size());
    double sum = 0.0;
    for (double f : pl) sum += f;
    agreement a;
    a.mir = std::abs(r.mir - exp.at("mir").get<double>());
    for (std::size_t i = 0; i < pl.size(); ++i) {
        const double diff = std::abs(r.layers[i].fid - pl[i]);
        a.layer_of_sum = std::max(a.layer_of_sum, diff / sum);
        a.layer_rel = std::max(a.layer_rel, diff / std::abs(pl[i]));
        INFO(name << " layer " << r.layers[i].layer << ": emulation " << r.layers[i].fid << ", official fast " << pl[i]
                  << " (" << diff / sum << " of the FID sum)");
        CHECK(diff <= 2e-3 * sum);
        CHECK(r.layers[i].terms.route == mir::trace_sqrt_route::official_fast);
    }
    INFO(name << " MIR: emulation " << r.mir << ", official fast " << exp.at("mir").get<double>());
    CHECK(a.mir <= 1e-3);
    WARN(name << ": worst |dMIR| " << a.mir << ", worst layer " << a.layer_of_sum
              << " of the FID sum, worst relative layer " << a.layer_rel);
    return a;
}

template <class T>
void golden_case(const std::string& name) {
    const auto c = mir_test::expected().at(name);
    const auto g = mir_test::read_dump<T>(name);
    const auto layers = c.at("layers").get<std::vector<int>>();
    const auto r = per_layer(g, layers, mir::sqrt_method::official_fast);
    compare(r, c.at("official-fast"), name);
    // The emulation is not the exact value (the official fast mode overstates FID).
    const auto e = per_layer(g, layers, mir::sqrt_method::exact);
    CHECK(r.mir > e.mir + 1e-3);
    WARN(name << ": MIR official-fast emulation " << r.mir << ", exact " << e.mir);
}

template <class T>
void official_case(const std::string& name) {
    std::ifstream in(mir_test::golden_dir() / "official" / "expected.json");
    const auto c = nlohmann::json::parse(in).at(name);
    const auto g = mir_test::read_dump<T>("official/" + name);
    const auto layers = c.at("layers").get<std::vector<int>>();
    const auto r = per_layer(g, layers, mir::sqrt_method::official_fast);
    compare(r, c.at("official-fast"), "official/" + name);
    // exact is unchanged: it still matches the float64 oracle of the same files.
    const auto e = per_layer(g, layers, mir::sqrt_method::exact);
    const auto ex = c.at("exact-float64").at("per_layer").get<std::vector<double>>();
    REQUIRE(e.layers.size() == ex.size());
    for (std::size_t i = 0; i < ex.size(); ++i) CHECK(std::abs(e.layers[i].fid - ex[i]) <= 1e-6 * ex[i]);
    CHECK(r.mir > e.mir + 1e-3);
    WARN("official/" << name << ": MIR official-fast emulation " << r.mir << ", exact " << e.mir);
}

Eigen::MatrixXd random_covariance(int d, int rows, std::mt19937_64& rng, double spread) {
    std::normal_distribution<double> n(0.0, 1.0);
    Eigen::MatrixXd x(rows, d);
    for (int i = 0; i < rows; ++i) {
        for (int j = 0; j < d; ++j) x(i, j) = n(rng) * std::pow(spread, -static_cast<double>(j) / d);
    }
    x.rowwise() -= x.colwise().mean();
    Eigen::MatrixXd c = x.transpose() * x / (rows - 1);
    c.triangularView<Eigen::StrictlyUpper>() = c.transpose();  // exactly symmetric, as mir's covariances
    return c;
}

}  // namespace

TEST_CASE("official-fast: the loop returns A on a well-conditioned input", "[official_fast]") {
    // SPEC §3: (A, I) is a fixed point; with κ small the float32 inverses are
    // accurate and the emulation's trace is Tr(S1 S2), not a square root.
    std::mt19937_64 rng(7);
    const Eigen::MatrixXd s1 = random_covariance(16, 400, rng, 1.5), s2 = random_covariance(16, 400, rng, 1.5);
    const mir::official_fast_result r = mir::official_fast_trace(s1, s2);
    CHECK(r.iterations == mir::official_fast_iterations);
    CHECK(r.status == mir::sqrt_status::max_iter);
    const double tp = mir::trace_of_product(s1, s2);
    CHECK(std::abs(r.value - tp) <= 1e-4 * tp);
    CHECK(std::abs(r.value - mir::trace_sqrt_product(s1, s2)) > 0.1 * tp);  // far from the square root
}

TEST_CASE("official-fast: a singular product collapses, each late step halving Y", "[official_fast]") {
    // A side with fewer rows than d makes A singular: the float32 inverse of A
    // is garbage, Z blows up and each remaining step halves Y (Z⁻¹A ≈ 0), so
    // the loop returns a fraction of A (about A/16 on realistic layers).
    std::mt19937_64 rng(11);
    const Eigen::MatrixXd s1 = random_covariance(64, 20, rng, 10.0), s2 = random_covariance(64, 300, rng, 10.0);
    const mir::official_fast_result r = mir::official_fast_trace(s1, s2);
    const double tp = mir::trace_of_product(s1, s2);
    const mir::backend::matrix<float> f1 = s1.cast<float>(), f2 = s2.cast<float>();
    mir::backend::matrix<float> a;
    mir::backend::active::gemm<float>(f1, f2, a);  // the product the emulation forms
    const auto trace_after = [&](int steps) {
        return static_cast<double>(mir::official_loop<float>(a, steps).sqrt.trace());
    };
    INFO("trace " << r.value << ", Tr(S1 S2) " << tp << ", after 3 and 4 steps " << trace_after(3) << ", "
                  << trace_after(4));
    CHECK(r.status == mir::sqrt_status::max_iter);
    CHECK(r.value == Approx(trace_after(5)).epsilon(1e-5));  // traced in double vs float
    CHECK(r.value < tp / 4);
    CHECK(r.value / trace_after(4) == Approx(0.5).epsilon(1e-3));
    CHECK(trace_after(4) / trace_after(3) == Approx(0.5).epsilon(1e-3));
}

TEST_CASE("official-fast: the loop runs on the alpha-scaled covariances", "[official_fast]") {
    // compute_layer hands the α-scaled covariances to the float32 loop (as the
    // official code scales its rows first); the trace is quartic in α.
    std::mt19937_64 rng(3);
    std::normal_distribution<double> n(0.0, 1.0);
    const int d = 8;
    std::vector<double> v(60 * d), t(90 * d);
    for (auto& x : v) x = 3.0 + 40.0 * n(rng);
    for (auto& x : t) x = 40.0 * n(rng);
    mir::layer_options o;
    o.sqrt = mir::sqrt_method::official_fast;
    const auto r = mir::compute_layer(mir::row_view<double>(v.data(), 60, d), mir::row_view<double>(t.data(), 90, d),
                                      o);
    const auto s = mir::compute_layer_statistics(mir::row_view<double>(v.data(), 60, d),
                                                 mir::row_view<double>(t.data(), 90, d));
    const double a2 = s.alpha * s.alpha;
    const double tp = mir::trace_of_product(s.vision.gaussian.covariance, s.text.gaussian.covariance) * a2 * a2;
    CHECK(r.terms.route == mir::trace_sqrt_route::official_fast);
    CHECK(std::abs(r.terms.trace_sqrt - tp) <= 1e-4 * tp);  // well conditioned: Tr of the scaled product
    CHECK(std::abs(r.terms.trace_1 - a2 * s.vision.gaussian.covariance.trace()) <= 1e-12 * r.terms.trace_1);
    CHECK(r.fid == Approx(r.terms.mean_term + r.terms.trace_1 + r.terms.trace_2 - 2 * r.terms.trace_sqrt));
}

TEST_CASE("official-fast: mir compute refuses reference-fast and points to official-fast", "[official_fast]") {
    CHECK(mir::parse_compute_sqrt_method("official-fast") == mir::sqrt_method::official_fast);
    CHECK(mir::parse_compute_sqrt_method("exact") == mir::sqrt_method::exact);
    CHECK_THROWS_AS(mir::parse_compute_sqrt_method("reference-fast"), mir::argument_error);
    CHECK_THROWS_WITH(mir::parse_compute_sqrt_method("reference-fast"),
                      Catch::Contains("official-fast") && Catch::Contains("removed"));
    CHECK_THROWS_WITH(mir::parse_compute_sqrt_method("fast"), !Catch::Contains("reference-fast"));
    // The benchmark still knows it.
    CHECK(mir::parse_sqrt_method("reference-fast") == mir::sqrt_method::reference_fast);
    CHECK(mir::info(mir::sqrt_method::official_fast).emulation);
    CHECK(mir::info(mir::sqrt_method::official_fast).compute);
    CHECK_FALSE(mir::info(mir::sqrt_method::reference_fast).compute);
    CHECK(mir::to_string(mir::trace_sqrt_route::official_fast) == "official-fast-emulation");
}

TEST_CASE("official-fast vs golden f16_small", "[official_fast][golden]") { golden_case<mir::half>("f16_small"); }

TEST_CASE("official-fast vs golden bf16_small", "[official_fast][golden]") { golden_case<mir::bfloat16>("bf16_small"); }

TEST_CASE("official-fast vs golden f32_wide", "[official_fast][golden]") { golden_case<float>("f32_wide"); }

TEST_CASE("official-fast vs golden official/d256_vision_rows_below_d", "[official_fast][golden]") {
    official_case<mir::half>("d256_vision_rows_below_d");
}

TEST_CASE("official-fast vs golden official/d256_both_below_d", "[official_fast][golden]") {
    official_case<float>("d256_both_below_d");
}

TEST_CASE("official-fast: the streaming accumulator gives the per-layer API's values", "[official_fast][golden]") {
    const auto g = mir_test::read_dump<mir::half>("f16_small");
    const auto layers = mir_test::expected().at("f16_small").at("layers").get<std::vector<int>>();
    const auto direct = per_layer(g, layers, mir::sqrt_method::official_fast);
    mir::accumulator_options opt;
    opt.sqrt = mir::sqrt_method::official_fast;
    mir::mir_accumulator acc(g.indices, g.d, opt);
    for (const auto& s : g.samples) {
        for (int k = 0; k < g.indices; ++k) acc.add(k, s.layer(k, g.d), std::span<const std::uint8_t>(s.mask));
    }
    const auto r = acc.finalize();
    REQUIRE(r.layers.size() == direct.layers.size());
    for (std::size_t i = 0; i < r.layers.size(); ++i)
        CHECK(r.layers[i].fid == Approx(direct.layers[i].fid).epsilon(1e-6));
}
