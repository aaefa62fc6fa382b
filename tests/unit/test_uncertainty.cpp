// The grouped jackknife (mir/metric/uncertainty.hpp) and the per-group
// statistics of layer_passes it stands on: the jackknife of a mean against
// its closed form, Student's t against tables, the leave-one-group-out
// statistics against the statistics of the remaining rows built by hand
// (every outlier policy, both square-root routes), and the grouped state's
// full result against an ungrouped run.
#include <catch2/catch.hpp>

#include <mir/metric/uncertainty.hpp>
#include <mir/mir.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace {

using mir::index_t;

double rel(double a, double b) { return std::abs(a - b) / std::max({std::abs(a), std::abs(b), 1e-300}); }

double rel(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) { return (a - b).norm() / std::max(b.norm(), 1e-300); }

// Samples with a random effect each (their rows are correlated, as the
// tokens of one image are), some far rows (the 3σ rule has work to do).
struct samples {
    index_t d;
    std::vector<std::vector<double>> vis, txt;  // row-major, per sample
    std::vector<index_t> nv, nt;

    samples(int n, index_t dim, index_t vis_rows, index_t txt_rows, unsigned seed) : d(dim) {
        std::mt19937_64 rng(seed);
        std::normal_distribution<double> g(0.0, 1.0);
        std::uniform_int_distribution<index_t> extra(0, 3);
        for (int s = 0; s < n; ++s) {
            std::vector<double> effect(static_cast<std::size_t>(d));
            for (auto& e : effect) e = 0.5 * g(rng);
            for (int m = 0; m < 2; ++m) {
                const index_t rows = (m == 0 ? vis_rows : txt_rows) + extra(rng);
                std::vector<double> v(static_cast<std::size_t>(rows * d));
                for (index_t i = 0; i < rows; ++i) {
                    const double big = (s * 7 + i) % 23 == 4 ? 20.0 : 1.0;
                    for (index_t j = 0; j < d; ++j) {
                        const double mean = m == 0 ? 1.5 * std::sin(0.4 * static_cast<double>(j)) : -0.5;
                        v[static_cast<std::size_t>(i * d + j)] = big *
                                                                 (g(rng) + effect[static_cast<std::size_t>(j)] + mean);
                    }
                }
                (m == 0 ? vis : txt).push_back(std::move(v));
                (m == 0 ? nv : nt).push_back(rows);
            }
        }
    }
    [[nodiscard]] int size() const { return static_cast<int>(vis.size()); }

    // What compute_layer_jackknife wants: on_sample(i), then sample i's rows.
    template <class Sink, class OnSample>
    void replay(Sink&& sink, OnSample&& on_sample) const {
        for (int s = 0; s < size(); ++s) {
            const auto k = static_cast<std::size_t>(s);
            on_sample(k);
            sink(true, mir::row_view<double>(vis[k].data(), nv[k], d));
            sink(false, mir::row_view<double>(txt[k].data(), nt[k], d));
        }
    }

    // The rows of the samples `keep(s)` selects, concatenated per modality.
    template <class Keep>
    std::pair<std::vector<double>, std::vector<double>> rows_where(Keep keep) const {
        std::pair<std::vector<double>, std::vector<double>> out;
        for (int s = 0; s < size(); ++s) {
            if (!keep(s)) continue;
            const auto k = static_cast<std::size_t>(s);
            out.first.insert(out.first.end(), vis[k].begin(), vis[k].end());
            out.second.insert(out.second.end(), txt[k].begin(), txt[k].end());
        }
        return out;
    }
};

// The passes of one grouped (or ungrouped) state over every sample.
template <mir::accumulator_type Acc = double>
mir::layer_passes<Acc> grouped_state(const samples& data, mir::outlier_policy policy, int groups) {
    mir::layer_passes<Acc> p(data.d, policy, 3, groups);
    while (!p.done()) {
        data.replay([&](bool v, const auto& rows) { p.add(v, rows); },
                    [&](std::size_t i) {
                        if (groups > 0) p.set_group(static_cast<int>(i % static_cast<std::size_t>(groups)));
                    });
        p.end_pass();
    }
    return p;
}

// Rows with the full data's 3σ rule applied by hand: flagged rows dropped,
// or replaced by `median` (the full data's per-dimension lower median).
std::vector<double> apply_rule_by_hand(const std::vector<double>& rows, index_t d, const mir::outlier_rule& rule,
                                       mir::outlier_policy policy, const Eigen::VectorXd& median) {
    if (policy == mir::outlier_policy::none) return rows;
    const index_t n = static_cast<index_t>(rows.size()) / d;
    const std::vector<double> norms = mir::row_norms(mir::row_view<double>(rows.data(), n, d));
    std::vector<double> out;
    for (index_t i = 0; i < n; ++i) {
        const double* r = rows.data() + i * d;
        if (!rule.is_outlier(norms[static_cast<std::size_t>(i)])) {
            out.insert(out.end(), r, r + d);
        } else if (policy == mir::outlier_policy::replace_median) {
            out.insert(out.end(), median.data(), median.data() + d);
        }
    }
    return out;
}

}  // namespace

TEST_CASE("jackknife: delete-one jackknife of a mean is the standard error s/sqrt(n), without bias", "[uncertainty]") {
    std::mt19937_64 rng(7);
    std::normal_distribution<double> g(3.0, 2.0);
    for (int n : {2, 5, 40}) {
        std::vector<double> x(static_cast<std::size_t>(n));
        double sum = 0.0;
        for (auto& v : x) sum += v = g(rng);
        const double mean = sum / n;
        double ss = 0.0;
        for (double v : x) ss += (v - mean) * (v - mean);
        const double s = std::sqrt(ss / (n - 1));
        std::vector<double> leave(x.size());
        for (std::size_t i = 0; i < x.size(); ++i) leave[i] = (sum - x[i]) / (n - 1);
        const mir::jackknife_interval j = mir::grouped_jackknife(mean, leave, 0.95);
        INFO("n = " << n);
        CHECK(rel(j.std_error, s / std::sqrt(n)) < 1e-12);
        CHECK(std::abs(j.bias) < 1e-12 * std::abs(mean));
        CHECK(j.groups == n);
        CHECK(rel(j.upper - j.bias_corrected(), j.t_quantile * j.std_error) < 1e-13);
        CHECK(rel(j.bias_corrected() - j.lower, j.upper - j.bias_corrected()) < 1e-13);
    }
}

TEST_CASE("jackknife: Student's t quantiles match the tables", "[uncertainty]") {
    // Two-sided 95%: t_{0.975, df}; 90%: t_{0.95, 9} (standard tables, 10 digits).
    CHECK(rel(mir::jackknife_t_quantile(0.95, 2), 12.7062047362) < 1e-10);
    CHECK(rel(mir::jackknife_t_quantile(0.95, 10), 2.2621571628) < 1e-10);
    CHECK(rel(mir::jackknife_t_quantile(0.95, 101), 1.9839715185) < 1e-10);
    CHECK(rel(mir::jackknife_t_quantile(0.90, 10), 1.8331129327) < 1e-10);
    CHECK_THROWS_AS(mir::jackknife_t_quantile(1.0, 10), mir::argument_error);
    CHECK_THROWS_AS(mir::jackknife_t_quantile(0.0, 10), mir::argument_error);
    CHECK_THROWS_AS(mir::jackknife_t_quantile(0.95, 1), mir::argument_error);
    const std::vector<double> one{1.0};
    CHECK_THROWS_AS(mir::grouped_jackknife(1.0, one), mir::argument_error);
    const std::vector<double> nan{1.0, std::nan("")};
    CHECK_THROWS_AS(mir::grouped_jackknife(1.0, nan), mir::numerical_error);
}

TEST_CASE("jackknife: the paired difference, its t statistic and p-value", "[uncertainty]") {
    std::mt19937_64 rng(11);
    std::normal_distribution<double> g(0.0, 1.0);
    std::vector<double> a(10), b(10), d(10);
    for (std::size_t i = 0; i < a.size(); ++i) {
        a[i] = 3.0 + 0.1 * g(rng);
        d[i] = 0.01 * g(rng);
    }
    // A difference of exactly t_{0.975, 9} standard errors has p = 0.05.
    const mir::jackknife_interval dj = mir::grouped_jackknife(0.0, d);
    const double diff = dj.t_quantile * dj.std_error;
    // θ_(g) of the difference is d_g + diff − mean(d) shifted so that the
    // spread is d's; the estimate is diff.
    double md = 0.0;
    for (double v : d) md += v / 10.0;
    for (std::size_t i = 0; i < a.size(); ++i) b[i] = a[i] - (d[i] - md + diff);
    const mir::jackknife_interval ja = mir::grouped_jackknife(3.0, a), jb = mir::grouped_jackknife(3.0 - diff, b);
    const mir::jackknife_difference r = mir::paired_jackknife(ja, jb);
    CHECK(rel(r.difference.estimate, diff) < 1e-12);
    CHECK(rel(r.difference.std_error, dj.std_error) < 1e-9);
    CHECK(std::abs(r.p_value - 0.05) < 1e-8);
    CHECK(std::abs(r.difference.lower) < 1e-9 * dj.std_error + 1e-15);  // the interval just touches 0
    // A constant shift has no spread: certain.
    std::vector<double> shifted(a);
    for (auto& v : shifted) v += 0.3;
    const mir::jackknife_difference c = mir::paired_jackknife(mir::grouped_jackknife(3.3, shifted), ja);
    CHECK(c.p_value == 0.0);
    const mir::jackknife_difference same = mir::paired_jackknife(ja, ja);
    CHECK(same.p_value == 1.0);
    CHECK(same.t_statistic == 0.0);
    std::vector<double> nine(a.begin(), a.end() - 1);
    CHECK_THROWS_AS(mir::paired_jackknife(ja, mir::grouped_jackknife(3.0, nine)), mir::argument_error);
}

TEST_CASE("layer_passes with groups: full statistics as ungrouped, leave-outs as the remaining rows by hand",
          "[uncertainty][layer_passes]") {
    // d = 6: both sides large; d = 40: fewer text rows than d (the small-side route keeps the rows).
    for (const index_t d : {index_t{6}, index_t{40}}) {
        const samples data(12, d, d == 6 ? 30 : 50, d == 6 ? 20 : 2, 5u + static_cast<unsigned>(d));
        for (const auto& pol : mir::outlier_policies) {
            for (const int groups : {2, 5, 12}) {
                INFO("d " << d << ", " << pol.name << ", " << groups << " groups");
                auto plain = grouped_state(data, pol.policy, 0);
                auto grouped = grouped_state(data, pol.policy, groups);
                CHECK(grouped.groups() == groups);
                const auto all = data.rows_where([](int) { return true; });
                const mir::layer_statistics full = mir::compute_layer_statistics<double>(
                    mir::row_view<double>(all.first.data(), static_cast<index_t>(all.first.size()) / d, d),
                    mir::row_view<double>(all.second.data(), static_cast<index_t>(all.second.size()) / d, d),
                    pol.policy, 3);
                if (pol.policy != mir::outlier_policy::none) CHECK(full.vision.outliers > 0);
                const Eigen::VectorXd vis_median = mir::per_dimension_lower_median(
                    mir::row_view<double>(all.first.data(), static_cast<index_t>(all.first.size()) / d, d));
                const Eigen::VectorXd txt_median = mir::per_dimension_lower_median(
                    mir::row_view<double>(all.second.data(), static_cast<index_t>(all.second.size()) / d, d));
                for (int g = 0; g < groups; ++g) {
                    INFO("without group " << g);
                    const mir::layer_statistics lo = grouped.leave_out(g);
                    const auto rest = data.rows_where([&](int s) { return s % groups != g; });
                    const auto hv = apply_rule_by_hand(rest.first, d, full.vision.rule, pol.policy, vis_median);
                    const auto ht = apply_rule_by_hand(rest.second, d, full.text.rule, pol.policy, txt_median);
                    const mir::layer_statistics hand = mir::compute_layer_statistics<double>(
                        mir::row_view<double>(hv.data(), static_cast<index_t>(hv.size()) / d, d),
                        mir::row_view<double>(ht.data(), static_cast<index_t>(ht.size()) / d, d),
                        mir::outlier_policy::none, 3);
                    // α from the remaining raw text rows (the stand-ins do not enter it).
                    const index_t nt = static_cast<index_t>(rest.second.size()) / d;
                    const double alpha = mir::text_centric_scale(
                        mir::row_norms(mir::row_view<double>(rest.second.data(), nt, d)));
                    CHECK(rel(lo.alpha, alpha) < 1e-13);
                    CHECK(lo.vision.gaussian.count == hand.vision.gaussian.count);
                    CHECK(lo.text.gaussian.count == hand.text.gaussian.count);
                    CHECK(rel(lo.vision.gaussian.mean, hand.vision.gaussian.mean) < 1e-12);
                    CHECK(rel(lo.text.gaussian.covariance, hand.text.gaussian.covariance) < 1e-12);
                    CHECK(rel(lo.vision.gaussian.covariance, hand.vision.gaussian.covariance) < 1e-12);
                    CHECK(lo.text.gaussian.factor.has_value() == hand.text.gaussian.factor.has_value());
                    mir::layer_statistics hand_scaled = hand;
                    hand_scaled.alpha = alpha;
                    CHECK(rel(mir::compute_layer(lo).fid, mir::compute_layer(hand_scaled).fid) < 1e-10);
                }
                const mir::layer_statistics a = plain.finish(), b = grouped.finish();
                CHECK(a.alpha == b.alpha);
                CHECK(a.vision.outliers == b.vision.outliers);
                CHECK(a.text.gaussian.count == b.text.gaussian.count);
                CHECK(rel(a.vision.gaussian.covariance, b.vision.gaussian.covariance) < 1e-12);
                CHECK(rel(a.text.gaussian.mean, b.text.gaussian.mean) < 1e-12);
                CHECK(rel(mir::compute_layer(a).fid, mir::compute_layer(b).fid) < 1e-12);
                CHECK(rel(mir::compute_layer(a).fid, mir::compute_layer(full).fid) < 1e-12);
            }
        }
    }
}

TEST_CASE("layer_passes with groups: forks merged group-wise equal one participant; misuse is refused",
          "[uncertainty][layer_passes]") {
    const samples data(9, 5, 25, 15, 21);
    const int groups = 3;
    mir::layer_passes<double> single = grouped_state(data, mir::outlier_policy::replace_median, groups);
    mir::layer_passes<double> state(data.d, mir::outlier_policy::replace_median, 3, groups);
    while (!state.done()) {
        // Two participants: samples 0–3 and 4–8, each told its samples' groups.
        std::vector<mir::layer_passes<double>> part{state.fork(), state.fork()};
        for (int s = 0; s < data.size(); ++s) {
            auto& p = part[s < 4 ? 0 : 1];
            const auto k = static_cast<std::size_t>(s);
            p.set_group(s % groups);
            p.add(true, mir::row_view<double>(data.vis[k].data(), data.nv[k], data.d));
            p.add(false, mir::row_view<double>(data.txt[k].data(), data.nt[k], data.d));
        }
        state.merge(part[0]);
        state.merge(part[1]);
        state.end_pass();
    }
    for (int g = 0; g < groups; ++g) {
        const mir::layer_statistics a = single.leave_out(g), b = state.leave_out(g);
        CHECK(rel(a.alpha, b.alpha) < 1e-14);  // the groups' norm sums added in another order
        CHECK(a.vision.outliers == b.vision.outliers);
        CHECK(rel(a.vision.gaussian.covariance, b.vision.gaussian.covariance) < 1e-12);
        CHECK(rel(a.text.gaussian.mean, b.text.gaussian.mean) < 1e-12);
    }
    CHECK_THROWS_AS(mir::layer_passes<double>(4, mir::outlier_policy::none, 1, 1), mir::argument_error);
    CHECK_THROWS_AS(mir::layer_passes<double>(4, mir::outlier_policy::none, 1, -2), mir::argument_error);
    mir::layer_passes<double> fresh(data.d, mir::outlier_policy::none, 3, groups);
    CHECK_THROWS_AS(fresh.set_group(groups), mir::argument_error);
    CHECK_THROWS_AS(fresh.leave_out(0), mir::argument_error);  // passes not done
    mir::layer_passes<double> other(data.d, mir::outlier_policy::none, 3, 4);
    CHECK_THROWS_AS(fresh.merge(other), mir::argument_error);
    mir::layer_passes<double> ungrouped(data.d, mir::outlier_policy::none, 3);
    CHECK_THROWS_AS(ungrouped.set_group(1), mir::argument_error);
    CHECK_NOTHROW(ungrouped.set_group(0));
    CHECK_THROWS_AS(ungrouped.merge(fresh), mir::argument_error);
}

TEST_CASE("compute_layer_jackknife and jackknife_mir: the full result is the multipass result; leave-outs by hand",
          "[uncertainty]") {
    const samples data(10, 6, 30, 20, 31);
    const int groups = 5;
    std::vector<mir::layer_jackknife> layers;
    std::vector<mir::layer_result> plain;
    for (int layer = 1; layer <= 2; ++layer) {
        // Layer 2: the same samples, text shifted (another FID).
        samples shifted = data;
        for (auto& t : shifted.txt) {
            for (auto& v : t) v += 0.3 * layer;
        }
        mir::layer_options opt;
        opt.layer = layer;
        mir::multipass_info info;
        layers.push_back(mir::compute_layer_jackknife<double>(
            [&](auto&& sink, auto&& on_sample) { shifted.replay(sink, on_sample); }, data.d, groups, opt, &info));
        CHECK(info.passes >= 2);
        plain.push_back(
            mir::compute_layer_multipass<double>([&](auto&& sink) { shifted.replay(sink, [](std::size_t) {}); }, data.d,
                                                 opt));
        CHECK(rel(layers.back().result.fid, plain.back().fid) < 1e-12);
        REQUIRE(layers.back().leave_out_fid.size() == static_cast<std::size_t>(groups));
        // Under `none` a leave-out is the FID of the remaining samples, computed afresh.
        mir::layer_options none = opt;
        none.policy = mir::outlier_policy::none;
        const mir::layer_jackknife j = mir::compute_layer_jackknife<double>(
            [&](auto&& sink, auto&& on_sample) { shifted.replay(sink, on_sample); }, data.d, groups, none);
        for (int g = 0; g < groups; ++g) {
            const auto rest = shifted.rows_where([&](int s) { return s % groups != g; });
            const mir::layer_result r = mir::compute_layer(
                mir::row_view<double>(rest.first.data(), static_cast<index_t>(rest.first.size()) / data.d, data.d),
                mir::row_view<double>(rest.second.data(), static_cast<index_t>(rest.second.size()) / data.d, data.d),
                none);
            CHECK(rel(j.leave_out_fid[static_cast<std::size_t>(g)], r.fid) < 1e-11);
        }
    }
    const mir::mir_jackknife m = mir::jackknife_mir(layers, 0.95);
    CHECK(rel(m.mir.estimate, mir::aggregate(plain).mir) < 1e-12);
    REQUIRE(m.fids.size() == 2);
    CHECK(m.mir.lower < m.mir.bias_corrected());
    CHECK(m.mir.upper > m.mir.bias_corrected());
    // The bias estimate by its definition, (G − 1)(mean of the leave-outs − θ̂).
    double mean = 0.0;
    for (double v : m.mir.leave_out) mean += v / groups;
    CHECK(rel(m.mir.bias, (groups - 1) * (mean - m.mir.estimate)) < 1e-9);
    CHECK(m.mir.std_error > 0.0);
    for (std::size_t g = 0; g < static_cast<std::size_t>(groups); ++g) {
        CHECK(rel(m.mir.leave_out[g], std::log10(layers[0].leave_out_fid[g] + layers[1].leave_out_fid[g])) < 1e-14);
    }
    // More groups than samples: no group may be empty.
    mir::layer_options opt;
    opt.layer = 4;
    CHECK_THROWS_WITH(mir::compute_layer_jackknife<double>([&](auto&& sink,
                                                               auto&& on_sample) { data.replay(sink, on_sample); },
                                                           data.d, 11, opt),
                      Catch::Contains("layer 4") && Catch::Contains("10 sample(s) cannot fill 11"));
}
