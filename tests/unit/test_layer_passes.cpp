// layer_passes (mir/stats/layer_passes.hpp): a layer's rows split among
// participants, each pass merged, equals one participant that saw every row —
// for every outlier policy, row dtype, accumulation precision and square
// root; and the protocol refuses participants that are out of step.
#include <catch2/catch.hpp>

#include <mir/mir.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace {

// Gaussian rows with a mean offset, a few far outliers (so that the 3σ rule
// and replace-median have work to do), converted to T.
template <class T>
std::vector<T> rows_of(mir::index_t n, mir::index_t d, unsigned seed, double offset) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> g(0.0, 1.0);
    std::vector<T> v(static_cast<std::size_t>(n * d));
    for (mir::index_t i = 0; i < n; ++i) {
        const double big = i % 29 == 3 ? 25.0 : 1.0;
        for (mir::index_t j = 0; j < d; ++j) {
            v[static_cast<std::size_t>(i * d + j)] = static_cast<T>(big * (g(rng) + offset * std::sin(0.3 * j)));
        }
    }
    return v;
}

// One chunk of rows of one modality.
template <class T>
struct chunk {
    bool vision;
    mir::row_view<T> rows;
};

// The chunks of a layer in source order: vision and text interleaved in
// pieces of 17 and 23 rows (the last pieces shorter).
template <class T>
std::vector<chunk<T>> chunks_of(const std::vector<T>& vis, mir::index_t nv, const std::vector<T>& txt, mir::index_t nt,
                                mir::index_t d) {
    std::vector<chunk<T>> out;
    mir::index_t a = 0, b = 0;
    while (a < nv || b < nt) {
        if (a < nv) {
            const mir::index_t k = std::min<mir::index_t>(17, nv - a);
            out.push_back({true, mir::row_view<T>(vis.data() + a * d, k, d)});
            a += k;
        }
        if (b < nt) {
            const mir::index_t k = std::min<mir::index_t>(23, nt - b);
            out.push_back({false, mir::row_view<T>(txt.data() + b * d, k, d)});
            b += k;
        }
    }
    return out;
}

// The protocol with `parts` participants; participant p takes the chunks
// c with owner(c) == p. Merged in participant order every pass.
template <mir::accumulator_type Acc, class T, class Owner>
mir::layer_statistics merged(const std::vector<chunk<T>>& chunks, mir::index_t d, mir::outlier_policy policy, int parts,
                             Owner owner, int* passes = nullptr) {
    mir::layer_passes<Acc> state(d, policy, 5);
    while (!state.done()) {
        std::vector<mir::layer_passes<Acc>> part;
        for (int p = 0; p < parts; ++p) part.push_back(state.fork());
        for (std::size_t c = 0; c < chunks.size(); ++c) {
            part[static_cast<std::size_t>(owner(c))].add(chunks[c].vision, chunks[c].rows);
        }
        for (const auto& p : part) state.merge(p);
        state.end_pass();
    }
    if (passes) *passes = state.passes_done();
    return state.finish();
}

template <mir::accumulator_type Acc, class T>
mir::layer_statistics single(const std::vector<chunk<T>>& chunks, mir::index_t d, mir::outlier_policy policy,
                             int* passes = nullptr) {
    mir::multipass_info info;
    auto s = mir::compute_layer_statistics_multipass<Acc>(
        [&](auto&& sink) {
            for (const auto& c : chunks) sink(c.vision, c.rows);
        },
        d, policy, 5, &info);
    if (passes) *passes = info.passes;
    return s;
}

double rel(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-300); }

double max_rel(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
    return (a - b).cwiseAbs().maxCoeff() / std::max(b.cwiseAbs().maxCoeff(), 1e-300);
}

void require_same(const mir::layer_statistics& a, const mir::layer_statistics& b, double tol) {
    CHECK(a.alpha == Approx(b.alpha).epsilon(1e-15));
    for (auto [x, y] : {std::pair{&a.vision, &b.vision}, {&a.text, &b.text}}) {
        CHECK(x->input_rows == y->input_rows);
        CHECK(x->outliers == y->outliers);
        CHECK(x->rule.median == y->rule.median);  // an exact order statistic
        CHECK(x->rule.sigma == Approx(y->rule.sigma).epsilon(1e-15));
        CHECK(x->gaussian.count == y->gaussian.count);
        CHECK(max_rel(x->gaussian.mean, y->gaussian.mean) <= tol);
        CHECK(max_rel(x->gaussian.covariance, y->gaussian.covariance) <= tol);
        CHECK(x->gaussian.factor.has_value() == y->gaussian.factor.has_value());
        if (x->gaussian.factor && y->gaussian.factor) {  // the same rows, perhaps in another order: FᵀF
            CHECK(max_rel(x->gaussian.factor->transpose() * *x->gaussian.factor,
                          y->gaussian.factor->transpose() * *y->gaussian.factor) <= tol);
        }
    }
}

// fid_tol: 1e-12 relative, except where the problem itself is worse
// conditioned than that (fewer rows than d: the small-side eigenvalues
// include small ones whose square roots magnify rounding; the moments
// themselves still agree to 1e-12).
template <class T, mir::accumulator_type Acc>
void check_every_policy_and_split(mir::index_t nv, mir::index_t nt, mir::index_t d, int expected_passes,
                                  double fid_tol = 1e-12) {
    const auto vis = rows_of<T>(nv, d, 1, 2.0), txt = rows_of<T>(nt, d, 2, -1.0);
    const auto chunks = chunks_of(vis, nv, txt, nt, d);
    for (const auto& pol : mir::outlier_policies) {
        INFO(std::string(pol.name) << ", rows " << nv << "+" << nt << ", d " << d);
        int single_passes = 0;
        const mir::layer_statistics one = single<Acc>(chunks, d, pol.policy, &single_passes);
        if (pol.policy == mir::outlier_policy::replace_median) {
            CHECK(single_passes == expected_passes);
            CHECK(one.vision.outliers > 0);
        }
        // The same protocol with one participant is the multipass computation exactly.
        const mir::layer_statistics self = merged<Acc>(chunks, d, pol.policy, 1, [](std::size_t) { return 0; });
        CHECK(self.vision.gaussian.covariance == one.vision.gaussian.covariance);
        CHECK(self.text.gaussian.mean == one.text.gaussian.mean);
        // Contiguous shards (files split among ranks), 2 and 3 of them; a
        // round-robin split; and a participant that gets no rows at all.
        const std::size_t n = chunks.size();
        const auto contiguous = [n](int parts) {
            return [n, parts](std::size_t c) { return static_cast<int>(c * parts / n); };
        };
        const double tol = std::is_same_v<Acc, float> ? 1e-5 : 1e-12;
        for (int parts : {2, 3}) {
            INFO(parts << " contiguous shards");
            int passes = 0;
            require_same(merged<Acc>(chunks, d, pol.policy, parts, contiguous(parts), &passes), one, tol);
            CHECK(passes == single_passes);
        }
        {
            INFO("round robin over 3, one idle participant of 4");
            require_same(merged<Acc>(chunks, d, pol.policy, 4, [](std::size_t c) { return static_cast<int>(c % 3); }),
                         one, tol);
        }
        // Every square root gives the same FID from merged statistics.
        if constexpr (std::is_same_v<Acc, double>) {
            const mir::layer_statistics two = merged<Acc>(chunks, d, pol.policy, 2, contiguous(2));
            for (const auto& m : mir::sqrt_catalogue) {
                if (m.emulation) continue;  // official-fast is a float32 emulation, not a function of exact inputs
                INFO(m.name);
                const double a = mir::compute_layer(one, m.method).fid, b = mir::compute_layer(two, m.method).fid;
                const auto t = mir::compute_layer(one, m.method).terms;
                INFO("FID " << a << " vs " << b << ", rel " << rel(b, a) << "; mean term " << t.mean_term << ", traces "
                            << t.trace_1 << " " << t.trace_2 << " " << t.trace_sqrt);
                CHECK(rel(b, a) <= fid_tol);
            }
        }
    }
}

}  // namespace

TEST_CASE("layer_passes: merged participants equal one participant", "[layer_passes][merge]") {
    SECTION("f32 rows, fp64 accumulation (4 passes)") { check_every_policy_and_split<float, double>(300, 260, 12, 4); }
    SECTION("f64 rows (6 passes)") { check_every_policy_and_split<double, double>(240, 200, 9, 6); }
    SECTION("bf16 rows (2 passes)") { check_every_policy_and_split<mir::bfloat16, double>(250, 210, 10, 2); }
    SECTION("f16 rows, fp32 accumulation") { check_every_policy_and_split<mir::half, float>(250, 210, 10, 2); }
    SECTION("fewer rows than d: the small-side rows are merged too") {
        check_every_policy_and_split<float, double>(40, 35, 64, 4, 1e-10);
    }
}

TEST_CASE("layer_passes: participants out of step are refused", "[layer_passes][errors]") {
    const mir::index_t d = 4;
    const auto vis = rows_of<double>(20, d, 3, 0.0), txt = rows_of<double>(20, d, 4, 0.0);
    mir::layer_passes<double> a(d, mir::outlier_policy::replace_median, 2);
    mir::layer_passes<double> b = a.fork();
    a.add(true, mir::row_view<double>(vis.data(), 20, d));
    a.add(false, mir::row_view<double>(txt.data(), 20, d));
    // fork() of a state holding this pass's rows would duplicate them.
    CHECK_THROWS_WITH(a.fork(), Catch::Contains("holds rows of the pass in progress"));
    a.end_pass();
    // b is still in pass 1: merging it into pass 2 is refused, naming both.
    CHECK_THROWS_WITH(a.merge(b),
                      Catch::Contains("pass 1") && Catch::Contains("pass 2") && Catch::Contains("out of step"));
    mir::layer_passes<double> other_layer(d, mir::outlier_policy::replace_median, 3);
    CHECK_THROWS_WITH(b.merge(other_layer), Catch::Contains("layer 3") && Catch::Contains("layer 2"));
    mir::layer_passes<double> other_dim(d + 1, mir::outlier_policy::replace_median, 2);
    CHECK_THROWS_AS(b.merge(other_dim), mir::argument_error);
    // A participant that started from another pass-1 result.
    mir::layer_passes<double> c(d, mir::outlier_policy::replace_median, 2);
    c.add(true, mir::row_view<double>(vis.data(), 10, d));
    c.add(false, mir::row_view<double>(txt.data(), 20, d));
    c.end_pass();
    CHECK_THROWS_WITH(a.merge(c.fork()), Catch::Contains("different pass-1 result"));
    // A pass with fewer rows than pass 1 names both counts.
    mir::layer_passes<double> p2 = a.fork();
    p2.add(true, mir::row_view<double>(vis.data(), 19, d));
    p2.add(false, mir::row_view<double>(txt.data(), 20, d));
    CHECK_THROWS_WITH(p2.end_pass(), Catch::Contains("19 rows on pass 2 but 20"));
    // finish() only once, and only when done.
    CHECK_THROWS_WITH(a.fork().finish(), Catch::Contains("before the last pass"));
}
