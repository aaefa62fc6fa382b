// The exact median selector and the multipass layer: exact results in
// bounded memory from a source read several times.
#include <catch2/catch.hpp>

#include <mir/mir.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "../support/golden.hpp"

namespace {

template <class T>
std::vector<T> random_values(std::size_t n, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> g(0.0, 3.0);
    std::uniform_int_distribution<int> pick(0, 9);
    std::vector<T> v(n);
    for (auto& x : v) {
        const int p = pick(rng);
        // Duplicates, zeros of both signs, negatives, tiny and huge values.
        const double y = p == 0 ? 0.0 : p == 1 ? -0.0 : p == 2 ? 1.5 : p == 3 ? g(rng) * 1e-6 : g(rng) * (p == 4 ? 1e4 : 1.0);
        x = static_cast<T>(y);
    }
    return v;
}

template <class T>
void selector_matches(int expected_passes) {
    const mir::index_t d = 7;
    for (mir::index_t n : {1, 2, 5, 64, 501}) {
        const auto v = random_values<T>(static_cast<std::size_t>(n * d), static_cast<unsigned>(n));
        const mir::row_view<T> rows(v.data(), n, d);
        const Eigen::VectorXd want = mir::per_dimension_lower_median(rows);
        mir::exact_median_selector sel(d);
        while (!sel.done()) {
            sel.begin_pass();
            // Present the rows in two pieces, in a different order each pass.
            const mir::index_t h = n / 2;
            if (sel.passes() % 2) {
                sel.add(rows.middle_rows(h, n - h));
                sel.add(rows.middle_rows(0, h));
            } else {
                sel.add(rows.middle_rows(0, h));
                sel.add(rows.middle_rows(h, n - h));
            }
            sel.end_pass();
        }
        CHECK(sel.passes() == expected_passes);
        const Eigen::VectorXd got = sel.median();
        for (mir::index_t j = 0; j < d; ++j) {
            INFO("n " << n << " dim " << j);
            CHECK(got[j] == want[j]);  // exact, bit for bit (up to the sign of zero)
        }
    }
}

}  // namespace

TEST_CASE("exact_median_selector equals the in-memory lower median for every element type", "[median]") {
    selector_matches<mir::half>(2);
    selector_matches<mir::bfloat16>(2);
    selector_matches<float>(4);
    selector_matches<double>(6);
}

TEST_CASE("exact_median_selector rejects inconsistent passes", "[median][errors]") {
    const std::vector<float> v{1, 2, 3, 4, 5, 6};
    mir::exact_median_selector sel(2);
    sel.begin_pass();
    sel.add(mir::row_view<float>(v.data(), 3, 2));
    sel.end_pass();
    sel.begin_pass();
    sel.add(mir::row_view<float>(v.data(), 2, 2));
    CHECK_THROWS_WITH(sel.end_pass(), Catch::Contains("saw 2 rows, expected 3"));
    CHECK_THROWS_AS(sel.median(), mir::argument_error);
}

namespace {

template <class T>
void multipass_golden(const std::string& name, int expected_passes) {
    const auto g = mir_test::read_dump<T>(name);
    const auto all = mir_test::expected();
    const auto& c = all.at(name);
    for (auto p : {mir::outlier_policy::replace_median, mir::outlier_policy::drop, mir::outlier_policy::none}) {
        const auto exp = c.at(std::string(mir::to_string(p)) + "/exact").at("per_layer").get<std::vector<double>>();
        int i = 0;
        for (int k : c.at("layers").get<std::vector<int>>()) {
            mir::layer_options opt;
            opt.policy = p;
            opt.layer = k;
            mir::multipass_info info;
            // The source: every sample's layer k, split by its mask.
            const auto r = mir::compute_layer_multipass(
                [&](auto&& sink) {
                    for (const auto& s : g.samples) {
                        const auto rows = s.layer(k, g.d);
                        mir::for_each_mask_run(std::span<const std::uint8_t>(s.mask),
                                               [&](mir::index_t b, mir::index_t e, bool vis) {
                                                   sink(vis, rows.middle_rows(b, e - b));
                                               });
                    }
                },
                g.d, opt, &info);
            mir::index_t nv = 0, nt = 0;
            const auto v = g.rows(k, true, nv), t = g.rows(k, false, nt);
            const auto direct =
                mir::compute_layer(mir::row_view<T>(v.data(), nv, g.d), mir::row_view<T>(t.data(), nt, g.d), opt);
            INFO(name << " " << mir::to_string(p) << " layer " << k);
            const double scale = direct.terms.mean_term + direct.terms.trace_1 + direct.terms.trace_2;
            CHECK(std::abs(r.fid - direct.fid) <= 1e-12 * scale);
            CHECK(std::abs(r.fid - exp[static_cast<std::size_t>(i++)]) <= 1e-6 * r.fid);
            CHECK(r.vision.outliers == direct.vision.outliers);
            CHECK(r.text.rows == direct.text.rows);
            CHECK(r.exact);
            const bool median_needed = p == mir::outlier_policy::replace_median &&
                                       (direct.vision.outliers > 0 || direct.text.outliers > 0);
            CHECK(info.passes == (median_needed ? expected_passes : 2));
        }
    }
}

}  // namespace

TEST_CASE("compute_layer_multipass equals the per-layer API on golden dumps", "[multipass][golden]") {
    multipass_golden<mir::half>("f16_small", 2);
    multipass_golden<mir::bfloat16>("bf16_small", 2);
    multipass_golden<float>("f32_wide", 4);
}

TEST_CASE("compute_layer_multipass rejects a source that changes between passes", "[multipass][errors]") {
    std::vector<double> v(40), t(40);
    for (std::size_t i = 0; i < v.size(); ++i) {
        v[i] = std::sin(static_cast<double>(i));
        t[i] = std::cos(static_cast<double>(i) * 0.7);
    }
    int calls = 0;
    auto shrinking = [&](auto&& sink) {
        const mir::index_t n = calls++ == 0 ? 10 : 9;
        sink(true, mir::row_view<double>(v.data(), n, 4));
        sink(false, mir::row_view<double>(t.data(), 10, 4));
    };
    CHECK_THROWS_WITH(mir::compute_layer_multipass(shrinking, 4), Catch::Contains("9 rows on pass 2 but 10"));
}
