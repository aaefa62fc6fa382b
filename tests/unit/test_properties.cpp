// Properties of the per-layer pipeline and the accumulator: FID(X, X) ≈ 0,
// α² scaling, permutation and batch-size invariance, agreement across
// element types holding the same values.
#include <catch2/catch.hpp>

#include <mir/mir.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "../support/random.hpp"

namespace {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

mir::row_view<double> view(const RowMatrix& x) { return {x.data(), x.rows(), x.cols()}; }

/// Rows of small dyadic values k/64, |k| < 256 (8 significant bits), exactly representable in
/// f16, bf16, f32 and f64 alike; a few massive rows for the outlier rule.
RowMatrix dyadic_rows(mir::index_t n, mir::index_t d, unsigned seed, int shift) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> k(-200, 200);  // |k + shift| < 256: 8 significant bits
    RowMatrix x(n, d);
    for (mir::index_t i = 0; i < n; ++i) {
        for (mir::index_t j = 0; j < d; ++j) x(i, j) = (k(rng) + (j < 4 ? shift : 0)) / 64.0;
    }
    x(3, 1) = 4096.0;  // massive activation (representable everywhere)
    return x;
}

template <class T>
std::vector<T> convert(const RowMatrix& x) {
    std::vector<T> out(static_cast<std::size_t>(x.size()));
    for (mir::index_t i = 0; i < x.size(); ++i) out[static_cast<std::size_t>(i)] = static_cast<T>(x.data()[i]);
    return out;
}

/// The size of the terms FID is the difference of.
double term_scale(const mir::layer_result& r) { return r.terms.mean_term + r.terms.trace_1 + r.terms.trace_2; }

bool close(double a, double b, double tol) { return std::abs(a - b) <= tol * std::max(std::abs(a), std::abs(b)); }

}  // namespace

TEST_CASE("FID(X, X) is zero up to rounding, never clearly negative", "[properties]") {
    const auto n = GENERATE(20, 200);  // below and above d: both sqrt routes
    const RowMatrix x = mir_test::gaussian_rows(n, 48, 3, 1.5, 0.2);
    mir::layer_options opt;
    opt.policy = mir::outlier_policy::none;
    const auto r = mir::compute_layer(view(x), view(x), opt);
    const double scale = r.terms.trace_1 + r.terms.trace_2;
    INFO("fid " << r.fid << " scale " << scale);
    CHECK(r.fid >= -1e-12 * scale);
    CHECK(r.fid <= 1e-10 * scale);
}

TEST_CASE("scaling both modalities by c leaves the α-normalised FID unchanged", "[properties]") {
    const RowMatrix v = mir_test::gaussian_rows(150, 20, 4, 2.0, 1.0), t = mir_test::gaussian_rows(120, 20, 5);
    const double c = 13.25;
    const RowMatrix vc = v * c, tc = t * c;
    for (auto p : {mir::outlier_policy::none, mir::outlier_policy::drop, mir::outlier_policy::replace_median}) {
        mir::layer_options opt;
        opt.policy = p;
        const auto a = mir::compute_layer(view(v), view(t), opt);
        const auto b = mir::compute_layer(view(vc), view(tc), opt);
        CHECK(close(a.fid, b.fid, 1e-12));
        CHECK(close(a.alpha, b.alpha * c, 1e-14));
        // The raw-unit FID is fid / α², so it scales by c².
        CHECK(close(b.fid / (b.alpha * b.alpha), c * c * a.fid / (a.alpha * a.alpha), 1e-12));
    }
}

TEST_CASE("row order does not matter", "[properties]") {
    RowMatrix v = dyadic_rows(90, 16, 7, 40), t = dyadic_rows(70, 16, 8, 0);
    const auto before = mir::compute_layer(view(v), view(t));
    std::vector<int> perm(90);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), std::mt19937(1));
    RowMatrix vp(90, 16);
    for (int i = 0; i < 90; ++i) vp.row(i) = v.row(perm[static_cast<std::size_t>(i)]);
    const auto after = mir::compute_layer(view(vp), view(t));
    CHECK(close(before.fid, after.fid, 1e-12));
    CHECK(before.vision.outliers == after.vision.outliers);
}

TEST_CASE("accumulator: batch size does not matter, and equals the per-layer API", "[properties][streaming]") {
    const mir::index_t d = 12;
    const RowMatrix v = dyadic_rows(300, d, 9, 30), t = dyadic_rows(260, d, 10, 0);
    for (auto p : {mir::outlier_policy::none, mir::outlier_policy::drop, mir::outlier_policy::replace_median}) {
        mir::layer_options lo;
        lo.policy = p;
        lo.layer = 1;
        const auto direct = mir::compute_layer(view(v), view(t), lo);
        for (mir::index_t chunk : {1, 7, 64, 300}) {
            mir::accumulator_options ao;
            ao.policy = p;
            mir::mir_accumulator acc(2, d, ao);
            for (mir::index_t first = 0; first < 300; first += chunk) {
                const auto nv = std::min(chunk, 300 - first);
                const auto nt = std::max<mir::index_t>(0, std::min(chunk, 260 - first));
                acc.add(1, mir::row_view<double>(v.data() + first * d, nv, d),
                        mir::row_view<double>(t.data() + std::min<mir::index_t>(first, 260) * d, nt, d));
            }
            const auto r = acc.finalize_layer(1);
            INFO(mir::to_string(p) << ", chunk " << chunk << ": " << r.fid << " vs " << direct.fid << " rel " << std::abs(r.fid - direct.fid) / direct.fid);
            CHECK(r.exact);
            // FID is a difference of terms of size Tr Σ: its rounding error
            // scales with them, not with FID itself (massive rows here).
            CHECK(std::abs(r.fid - direct.fid) <= 1e-12 * term_scale(direct));
            CHECK(close(r.terms.trace_1, direct.terms.trace_1, 1e-12));
            CHECK(close(r.terms.trace_sqrt, direct.terms.trace_sqrt, 1e-12));
            CHECK(r.vision.outliers == direct.vision.outliers);
            CHECK(r.vision.rows == direct.vision.rows);
            CHECK(r.text.rows == direct.text.rows);
        }
    }
}

TEST_CASE("rows of f16 bf16 f32 and f64 holding the same values agree to 1e-12", "[properties]") {
    const mir::index_t d = 16;
    const auto n = GENERATE(10, 100);  // fewer and more rows than d
    const RowMatrix v = dyadic_rows(n, d, 11, 50), t = dyadic_rows(n + 7, d, 12, 0);
    const auto p = GENERATE(mir::outlier_policy::none, mir::outlier_policy::drop, mir::outlier_policy::replace_median);
    mir::layer_options opt;
    opt.policy = p;
    const auto ref = mir::compute_layer(view(v), view(t), opt);
    const auto vh = convert<mir::half>(v), th = convert<mir::half>(t);
    const auto vb = convert<mir::bfloat16>(v), tb = convert<mir::bfloat16>(t);
    const auto vf = convert<float>(v), tf = convert<float>(t);
    const auto rh = mir::compute_layer(mir::row_view<mir::half>(vh.data(), n, d),
                                       mir::row_view<mir::half>(th.data(), n + 7, d), opt);
    const auto rb = mir::compute_layer(mir::row_view<mir::bfloat16>(vb.data(), n, d),
                                       mir::row_view<mir::bfloat16>(tb.data(), n + 7, d), opt);
    const auto rf =
        mir::compute_layer(mir::row_view<float>(vf.data(), n, d), mir::row_view<float>(tf.data(), n + 7, d), opt);
    // Mixed types across modalities too.
    const auto rm =
        mir::compute_layer(mir::row_view<mir::half>(vh.data(), n, d), mir::row_view<float>(tf.data(), n + 7, d), opt);
    for (const auto* r : {&rh, &rb, &rf, &rm}) {
        INFO("n " << n << " policy " << mir::to_string(p) << ": " << r->fid << " vs f64 " << ref.fid);
        CHECK(close(r->fid, ref.fid, 1e-12));
        CHECK(r->vision.outliers == ref.vision.outliers);
    }
}

TEST_CASE("strided rows give the numbers of contiguous rows", "[properties]") {
    const mir::index_t d = 10;
    const RowMatrix v = mir_test::gaussian_rows(40, d, 21), t = mir_test::gaussian_rows(50, d, 22);
    RowMatrix wide = RowMatrix::Constant(40, d + 5, std::nan(""));  // padding must never be read
    wide.leftCols(d) = v;
    const auto a = mir::compute_layer(view(v), view(t));
    const auto b = mir::compute_layer(mir::row_view<double>(wide.data(), 40, d, d + 5), view(t));
    CHECK(a.fid == b.fid);
}
