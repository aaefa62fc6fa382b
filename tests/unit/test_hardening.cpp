// Issue 12, library items: a FID within the rounding level of its own terms
// is 0 (never negative) with its bound, MIR of coinciding statistics is an
// undefined_error under every square root, precision and pipeline; fp32
// accumulation scales rows before narrowing (values near 1e30, denormals).
#include <catch2/catch.hpp>

#include <mir/mir.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "../support/random.hpp"

namespace {

using rows_t = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

mir::row_view<double> view(const rows_t& x) { return {x.data(), x.rows(), x.cols()}; }

std::vector<float> as_float(const rows_t& x, double factor) {
    std::vector<float> out(static_cast<std::size_t>(x.size()));
    for (Eigen::Index i = 0; i < x.size(); ++i)
        out[static_cast<std::size_t>(i)] = static_cast<float>(x.data()[i] * factor);
    return out;
}

mir::layer_options options(mir::sqrt_method m, mir::precision p, mir::outlier_policy policy, int layer) {
    mir::layer_options o;
    o.sqrt = m;
    o.precision = p;
    o.policy = policy;
    o.layer = layer;
    return o;
}

}  // namespace

TEST_CASE("hardening: identical modalities give FID 0 within its bound and an undefined MIR", "[hardening][mir]") {
    const mir::index_t d = 6;
    // Every square root that is one (reference-fast's Tr(S S) is not Tr S: no zero to find there).
    for (const auto method :
         {mir::sqrt_method::exact, mir::sqrt_method::newton_schulz, mir::sqrt_method::denman_beavers}) {
        for (const auto p : {mir::precision::fp64, mir::precision::fp32}) {
            for (const auto policy : {mir::outlier_policy::replace_median, mir::outlier_policy::none}) {
                std::vector<mir::layer_result> layers;
                for (int k = 0; k < 4; ++k) {
                    // 40 rows (> d: the d x d route) and 4 rows (< d: the small-side route).
                    const rows_t x = mir_test::gaussian_rows(k == 3 ? 4 : 40, d, 11 + k, 1.0 + k, 0.5 * k);
                    const mir::layer_result l = mir::compute_layer(view(x), view(x), options(method, p, policy, k));
                    INFO(mir::to_string(method) << " " << mir::to_string(p) << " layer " << k << " value "
                                                << l.terms.value() << " bound " << l.fid_bound);
                    CHECK(l.fid == 0.0);
                    CHECK(l.fid_bound > 0.0);
                    CHECK(std::abs(l.terms.value()) <= l.fid_bound);
                    layers.push_back(l);
                }
                try {
                    (void)mir::aggregate(layers);
                    FAIL("aggregate gave a MIR for coinciding statistics");
                } catch (const mir::undefined_error& e) {
                    CHECK(e.kind() == mir::error_kind::undefined);
                    CHECK_THAT(e.what(), Catch::Contains("the two modalities' statistics coincide"));
                }
            }
        }
    }
    // The multipass pipeline (what `mir compute` runs) and the streaming accumulator agree.
    const rows_t x = mir_test::gaussian_rows(50, d, 5, 2.0, 1.0);
    const auto replay = [&](auto&& sink) {
        sink(true, view(x));
        sink(false, view(x));
    };
    const mir::layer_result m = mir::compute_layer_multipass(replay, d,
                                                             options(mir::sqrt_method::exact, mir::precision::fp64,
                                                                     mir::outlier_policy::replace_median, 1));
    CHECK(m.fid == 0.0);
    CHECK_THROWS_AS(mir::aggregate({m}), mir::undefined_error);
    mir::accumulator_options ao;
    ao.layers = {0};
    mir::mir_accumulator acc(1, d, ao);
    acc.add(0, view(x), view(x));
    CHECK_THROWS_WITH(acc.finalize(), Catch::Contains("statistics coincide"));
}

TEST_CASE("hardening: the rounding bound leaves real FIDs alone", "[hardening][mir]") {
    const mir::index_t d = 8;
    const rows_t v = mir_test::gaussian_rows(60, d, 1, 1.0, 0.0);
    const rows_t t = mir_test::gaussian_rows(60, d, 2, 1.0, 0.0);  // same distribution, other draws
    for (const auto method : {mir::sqrt_method::exact, mir::sqrt_method::newton_schulz}) {
        const mir::layer_result l = mir::compute_layer(view(v), view(t),
                                                       options(method, mir::precision::fp64, mir::outlier_policy::none,
                                                               1));
        CHECK(l.fid == l.terms.value());
        CHECK(l.fid > 1e6 * l.fid_bound);
        const mir::mir_result r = mir::aggregate({l});
        CHECK(r.fid_sum_bound == l.fid_bound);
        CHECK(r.mir == Approx(std::log10(l.fid)));
    }
    // The bound: 4 (d + 3) eps (|terms|) for a direct method.
    mir::frechet_terms t0;
    t0.dim = 8;
    t0.mean_term = 1.0;
    t0.trace_1 = 2.0;
    t0.trace_2 = 3.0;
    t0.trace_sqrt = 2.0;
    CHECK(t0.rounding_bound() == Approx(4.0 * 11.0 * std::numeric_limits<double>::epsilon() * 10.0));
    t0.iterative = true;
    t0.sqrt_residual = 1e-10;
    t0.sqrt_outcome = mir::sqrt_status::converged;
    CHECK(t0.rounding_bound() == Approx(4.0 * 11.0 * std::numeric_limits<double>::epsilon() * 10.0 + 4e-10));
    t0.sqrt_outcome = mir::sqrt_status::max_iter;  // not settled: its residual bounds nothing
    t0.sqrt_residual = 0.5;
    CHECK(t0.rounding_bound() == Approx(4.0 * 11.0 * std::numeric_limits<double>::epsilon() * 10.0));
}

TEST_CASE("hardening: fp32 accumulation gives the fp64 answer on f32 rows near 1e30 and on denormals",
          "[hardening][precision]") {
    const mir::index_t d = 6, n = 80;
    const rows_t v = mir_test::gaussian_rows(n, d, 21, 1.0, 0.3);
    const rows_t t = mir_test::gaussian_rows(n, d, 22, 1.5, 0.0);
    // FID in α-scaled units does not depend on the rows' scale: every factor gives (about) the same layer.
    const mir::layer_result ref = mir::compute_layer(view(v), view(t));
    for (const double factor : {1e30, 1e-40, 1e-300 / 1e-270 /* 1e-30 */}) {
        const std::vector<float> vf = as_float(v, factor), tf = as_float(t, factor);
        const mir::row_view<float> vv(vf.data(), n, d), tv(tf.data(), n, d);
        for (const auto policy : {mir::outlier_policy::replace_median, mir::outlier_policy::none}) {
            const mir::layer_result f64 = mir::compute_layer(vv, tv,
                                                             options(mir::sqrt_method::exact, mir::precision::fp64,
                                                                     policy, 3));
            const mir::layer_result f32 = mir::compute_layer(vv, tv,
                                                             options(mir::sqrt_method::exact, mir::precision::fp32,
                                                                     policy, 3));
            INFO("factor " << factor << " fp64 " << f64.fid << " fp32 " << f32.fid);
            REQUIRE(std::isfinite(f32.fid));
            CHECK(f32.fid == Approx(f64.fid).epsilon(1e-4));
            // The same through the multipass pipeline.
            const auto replay = [&](auto&& sink) {
                sink(true, vv);
                sink(false, tv);
            };
            const mir::layer_result mp = mir::compute_layer_multipass<float>(replay, d,
                                                                             options(mir::sqrt_method::exact,
                                                                                     mir::precision::fp32, policy, 3));
            CHECK(mp.fid == Approx(f64.fid).epsilon(1e-4));
        }
        if (factor != 1e-40) {  // denormal floats keep fewer digits: only the fp32-vs-fp64 agreement above
            const mir::layer_result f64 = mir::compute_layer(vv, tv);
            CHECK(f64.fid == Approx(ref.fid).epsilon(1e-5));
        }
    }
}

TEST_CASE("hardening: the streaming accumulator scales fp32 rows too (near 1e30, denormals)",
          "[hardening][precision][streaming]") {
    // 80 rows > d = 6: the accumulator streams (settled moments, tails,
    // reservoir), the path the per-layer scaling did not cover. Without the
    // scale, fp32 squares of 1e30 overflow (non-finite statistics) and
    // 1e-40 squares flush to zero.
    const mir::index_t d = 6, n = 80;
    const rows_t v = mir_test::gaussian_rows(n, d, 31, 1.0, 0.3);
    const rows_t t = mir_test::gaussian_rows(n, d, 32, 1.5, 0.0);
    for (const double factor : {1e30, 1e-40}) {
        const std::vector<float> vf = as_float(v, factor), tf = as_float(t, factor);
        const mir::row_view<float> vv(vf.data(), n, d), tv(tf.data(), n, d);
        struct variant {
            mir::outlier_policy policy;
            mir::median_mode median;
        };
        for (const variant c : {variant{mir::outlier_policy::none, mir::median_mode::keep_rows},
                                variant{mir::outlier_policy::drop, mir::median_mode::keep_rows},
                                variant{mir::outlier_policy::replace_median, mir::median_mode::reservoir}}) {
            mir::streaming_options so;
            so.policy = c.policy;
            so.median = c.median;
            mir::modality_accumulator<float> a32(d, so);
            mir::modality_accumulator<double> a64(d, so);
            a32.add(vv);
            a64.add(vv);
            const mir::modality_stats s32 = a32.finalize(), s64 = a64.finalize();
            INFO("factor " << factor << " policy " << static_cast<int>(c.policy));
            REQUIRE(s32.gaussian.covariance.allFinite());
            CHECK(s32.outliers == s64.outliers);
            const double cov_scale = s64.gaussian.covariance.norm();
            REQUIRE(cov_scale > 0.0);
            CHECK((s32.gaussian.covariance - s64.gaussian.covariance).norm() <= 1e-5 * cov_scale);
            CHECK((s32.gaussian.mean - s64.gaussian.mean).norm() <= 1e-5 * s64.gaussian.mean.norm());

            // And the FID through the accumulator the sink uses.
            mir::accumulator_options ao;
            ao.policy = c.policy;
            ao.median = c.median;
            ao.precision = mir::precision::fp32;
            mir::mir_accumulator f32(2, d, ao);
            ao.precision = mir::precision::fp64;
            mir::mir_accumulator f64(2, d, ao);
            f32.add(1, vv, tv);
            f64.add(1, vv, tv);
            const double fid32 = f32.finalize_layer(1).fid, fid64 = f64.finalize_layer(1).fid;
            REQUIRE(std::isfinite(fid32));
            CHECK(fid32 == Approx(fid64).epsilon(1e-4));
        }
    }
}

TEST_CASE("hardening: streamed fp32 rows far beyond the scale set by the first rows are a named error",
          "[hardening][precision][streaming]") {
    // The scale comes from the rows seen before streaming starts; rows 1e25
    // times larger after it still fit float, but their squares do not.
    const mir::index_t d = 4;
    const rows_t first = mir_test::gaussian_rows(2 * d, d, 41, 1.0, 0.0);
    const rows_t later = mir_test::gaussian_rows(40, d, 42, 1.0, 0.0);
    const std::vector<float> a = as_float(first, 1.0), b = as_float(later, 1e25);
    mir::streaming_options so;
    so.policy = mir::outlier_policy::none;
    mir::modality_accumulator<float> acc(d, so);
    acc.add(mir::row_view<float>(a.data(), 2 * d, d));
    acc.add(mir::row_view<float>(b.data(), 40, d));
    mir::row_context ctx;
    ctx.layer = 7;
    ctx.modality = "vision";
    CHECK_THROWS_AS(acc.finalize(ctx), mir::numerical_error);
    CHECK_THROWS_WITH(acc.finalize(ctx), Catch::Contains("vision statistics are not finite in fp32 accumulation"));
    // fp64 holds them.
    mir::modality_accumulator<double> acc64(d, so);
    acc64.add(mir::row_view<float>(a.data(), 2 * d, d));
    acc64.add(mir::row_view<float>(b.data(), 40, d));
    CHECK(acc64.finalize(ctx).gaussian.covariance.allFinite());
}

TEST_CASE("hardening: scaling the moments by a power of two leaves fp64 results bit-identical",
          "[hardening][moments]") {
    const rows_t x = mir_test::gaussian_rows(300, 7, 3, 3.0, 100.0);
    mir::moments<double> plain(7), scaled(7);
    scaled.set_scale(mir::moments<double>::scale_for(1234.5));
    CHECK(scaled.scale() == std::ldexp(1.0, -10));
    plain.add(view(x));
    scaled.add(view(x));
    CHECK(plain.mean_f64() == scaled.mean_f64());
    CHECK(plain.covariance() == scaled.covariance());
    CHECK(mir::moments<double>::scale_for(0.0) == 1.0);
    CHECK(mir::moments<double>::scale_for(std::numeric_limits<double>::infinity()) == 1.0);
    CHECK_THROWS_AS(scaled.set_scale(0.5), mir::argument_error);  // after the first row
    mir::moments<float> fresh(7);
    CHECK_THROWS_AS(fresh.set_scale(3.0), mir::argument_error);  // not a power of two
}
