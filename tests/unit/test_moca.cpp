// MoCa (SPEC §5): the forward pass against its direct formula on every
// element type, text rows untouched, the T = 1 rule, the backward pass
// against central finite differences and its closed form, the seeded
// initialisation, and the moment-matching initialiser's properties.
#include <catch2/catch.hpp>

#include <mir/mir.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../support/random.hpp"

namespace {

using mir::index_t;
using rows_d = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

mir::moca::layer_calibration random_layer(index_t d, std::uint64_t seed, double stddev = 0.1) {
    mir::moca::normal_generator g(seed);
    return mir::moca::init_layer(d, stddev, g);
}

// A [t, stride] buffer of type T filled with seeded values (rows of d <= stride).
template <class T>
std::vector<T> block(index_t t, index_t stride, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> n(0.0, 2.0);
    std::vector<T> out(static_cast<std::size_t>(t * stride));
    for (auto& x : out) x = static_cast<T>(n(rng));
    return out;
}

template <class T>
T direct(double u, double h, double v) {
    using C = mir::moca::compute_type<T>;
    volatile C prod = static_cast<C>(u) * static_cast<C>(h);
    volatile C sum = prod + static_cast<C>(v);
    return static_cast<T>(static_cast<C>(sum));
}

template <class T>
bool same_bits(const T& a, const T& b) {
    return std::memcmp(&a, &b, sizeof(T)) == 0;
}

}  // namespace

TEMPLATE_TEST_CASE("moca forward matches the direct formula and keeps text rows bit-identical", "[moca]", float, double,
                   mir::half, mir::bfloat16) {
    using T = TestType;
    const index_t t = 9, d = 6, stride = d + 3;
    const auto p = random_layer(d, 7);
    const std::vector<std::uint8_t> mask = {0, 1, 1, 0, 1, 1, 1, 0, 0};
    const auto vis = mir::moca::vision_positions::from_mask(std::span<const std::uint8_t>(mask));
    const auto vis_ranges = mir::moca::vision_positions::from_ranges({{4, 7}, {1, 3}});
    const std::vector<T> in = block<T>(t, stride, 11);

    // Out of place, into a differently strided output.
    const index_t ostride = d + 1;
    std::vector<T> out(static_cast<std::size_t>(t * ostride), static_cast<T>(-7.0f));
    REQUIRE(mir::moca::forward(p, mir::row_view<T>(in.data(), t, d, stride),
                               mir::moca::mutable_rows<T>(out.data(), t, d, ostride), vis));
    // In place, with ranges.
    std::vector<T> inplace = in;
    REQUIRE(mir::moca::forward_inplace(p, mir::moca::mutable_rows<T>(inplace.data(), t, d, stride), vis_ranges));

    for (index_t i = 0; i < t; ++i) {
        for (index_t j = 0; j < d; ++j) {
            const T h = in[static_cast<std::size_t>(i * stride + j)];
            const T o = out[static_cast<std::size_t>(i * ostride + j)];
            const T ip = inplace[static_cast<std::size_t>(i * stride + j)];
            if (mask[static_cast<std::size_t>(i)]) {
                const T want = direct<T>(p.scale[j], mir::to_acc<double>(h), p.shift[j]);
                CHECK(same_bits(o, want));
                CHECK(same_bits(ip, want));
            } else {
                CHECK(same_bits(o, h));
                CHECK(same_bits(ip, h));
            }
        }
        for (index_t j = d; j < stride; ++j) {  // padding untouched
            CHECK(same_bits(inplace[static_cast<std::size_t>(i * stride + j)], in[static_cast<std::size_t>(i * stride + j)]));
        }
    }
}

TEST_CASE("moca applies only when T > 1 unless the rule is turned off", "[moca]") {
    const index_t d = 4;
    const auto p = random_layer(d, 3);
    std::vector<float> one = {1.0f, -2.0f, 0.5f, 3.0f};
    const std::vector<float> orig = one;
    const bool mask[] = {true};
    const auto vis = mir::moca::vision_positions::from_mask(std::span<const bool>(mask, 1));
    CHECK_FALSE(mir::moca::forward_inplace(p, mir::moca::mutable_rows<float>(one.data(), 1, d), vis));
    CHECK(one == orig);

    std::vector<float> g = {0.25f, 1.0f, -1.0f, 2.0f}, gin(4, 0.0f);
    mir::moca::gradients grads(d);
    mir::moca::mutable_rows<float> gi(gin.data(), 1, d);
    CHECK_FALSE(mir::moca::backward(p, mir::row_view<float>(one.data(), 1, d), mir::row_view<float>(g.data(), 1, d), vis,
                                    grads, &gi));
    CHECK(gin == g);
    CHECK(grads.scale.isZero());
    CHECK(grads.shift.isZero());

    mir::moca::forward_options all;
    all.prefill_only = false;
    CHECK(mir::moca::forward_inplace(p, mir::moca::mutable_rows<float>(one.data(), 1, d), vis, all));
    for (index_t j = 0; j < d; ++j) CHECK(one[static_cast<std::size_t>(j)] == direct<float>(p.scale[j], orig[static_cast<std::size_t>(j)], p.shift[j]));
    CHECK(mir::moca::backward(p, mir::row_view<float>(orig.data(), 1, d), mir::row_view<float>(g.data(), 1, d), vis,
                              grads, &gi, all));
    CHECK(grads.shift[1] == 1.0);
}

TEST_CASE("moca rejects masks and ranges that do not fit the block", "[moca]") {
    const auto p = random_layer(3, 1);
    std::vector<double> h(12, 1.0);
    const std::uint8_t mask[] = {1, 0, 1};
    CHECK_THROWS_AS(mir::moca::forward_inplace(p, mir::moca::mutable_rows<double>(h.data(), 4, 3),
                                               mir::moca::vision_positions::from_mask(std::span<const std::uint8_t>(mask, 3))),
                    mir::shape_error);
    CHECK_THROWS_AS(mir::moca::forward_inplace(p, mir::moca::mutable_rows<double>(h.data(), 4, 3),
                                               mir::moca::vision_positions::from_ranges({{2, 5}})),
                    mir::shape_error);
    CHECK_THROWS_AS(mir::moca::vision_positions::from_ranges({{0, 2}, {1, 3}}), mir::argument_error);
    CHECK_THROWS_AS(mir::moca::forward_inplace(p, mir::moca::mutable_rows<double>(h.data(), 3, 4),
                                               mir::moca::vision_positions::from_ranges({{0, 1}})),
                    mir::shape_error);
}

namespace {

// L = Σ_ij w_ij ψ_ij + ½ Σ_ij ψ_ij² over a [t, d] block, in fp64.
double loss(const mir::moca::layer_calibration& p, const rows_d& h, const rows_d& w, const mir::moca::vision_positions& vis) {
    rows_d y = h;
    mir::moca::forward_inplace(p, mir::moca::mutable_rows<double>(y.data(), y.rows(), y.cols()), vis);
    return (w.array() * y.array()).sum() + 0.5 * y.squaredNorm();
}

double rel_err(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) { return (a - b).norm() / b.norm(); }

}  // namespace

TEST_CASE("moca backward matches central finite differences and the closed form in fp64", "[moca]") {
    const index_t t = 8, d = 5;
    const auto p = random_layer(d, 21, 0.2);
    const rows_d h = mir_test::gaussian_rows(t, d, 4, 1.5, 0.3);
    const rows_d w = mir_test::gaussian_rows(t, d, 5);
    const std::uint8_t mask[] = {1, 1, 0, 1, 0, 0, 1, 1};
    const auto vis = mir::moca::vision_positions::from_mask(std::span<const std::uint8_t>(mask, 8));

    rows_d y = h;
    mir::moca::forward_inplace(p, mir::moca::mutable_rows<double>(y.data(), t, d), vis);
    const rows_d g = w + y;  // ∂L/∂ψ
    mir::moca::gradients grads(d);
    rows_d gin(t, d);
    mir::moca::mutable_rows<double> gi(gin.data(), t, d);
    mir::moca::backward(p, mir::row_view<double>(h.data(), t, d), mir::row_view<double>(g.data(), t, d), vis, grads, &gi);

    // Central differences, step 1e-6 (L is quadratic in each parameter: the
    // difference quotient is exact up to rounding).
    const double eps = 1e-6;
    Eigen::VectorXd fu(d), fv(d);
    for (index_t j = 0; j < d; ++j) {
        auto a = p, b = p;
        a.scale[j] += eps;
        b.scale[j] -= eps;
        fu[j] = (loss(a, h, w, vis) - loss(b, h, w, vis)) / (2 * eps);
        a = p, b = p;
        a.shift[j] += eps;
        b.shift[j] -= eps;
        fv[j] = (loss(a, h, w, vis) - loss(b, h, w, vis)) / (2 * eps);
    }
    rows_d fh(t, d);
    for (index_t i = 0; i < t; ++i) {
        for (index_t j = 0; j < d; ++j) {
            rows_d a = h, b = h;
            a(i, j) += eps;
            b(i, j) -= eps;
            fh(i, j) = (loss(p, a, w, vis) - loss(p, b, w, vis)) / (2 * eps);
        }
    }
    const double eu = rel_err(grads.scale, fu), ev = rel_err(grads.shift, fv), eh = rel_err(gin, fh);
    CHECK(eu <= 1e-7);
    CHECK(ev <= 1e-7);
    CHECK(eh <= 1e-7);

    // Closed form: Σ_vision g ⊙ h, Σ_vision g, u ⊙ g | g.
    Eigen::VectorXd cu = Eigen::VectorXd::Zero(d), cv = Eigen::VectorXd::Zero(d);
    rows_d ch = g;
    for (index_t i = 0; i < t; ++i) {
        if (!mask[i]) continue;
        cu += g.row(i).transpose().cwiseProduct(h.row(i).transpose());
        cv += g.row(i).transpose();
        ch.row(i) = g.row(i).cwiseProduct(p.scale.transpose());
    }
    CHECK(rel_err(grads.scale, cu) <= 1e-15);
    CHECK(rel_err(grads.shift, cv) <= 1e-15);
    CHECK(gin == ch);

    // Accumulated over a batch: three sequences add up; a zeroed
    // accumulator starts again.
    mir::moca::gradients batch(d);
    for (int k = 0; k < 3; ++k) {
        mir::moca::backward(p, mir::row_view<double>(h.data(), t, d), mir::row_view<double>(g.data(), t, d), vis, batch);
    }
    CHECK(rel_err(batch.scale, 3 * cu) <= 1e-15);
    CHECK(rel_err(batch.shift, 3 * cv) <= 1e-15);
    batch.zero();
    CHECK(batch.scale.isZero());
}

TEST_CASE("moca backward in float for half rows", "[moca]") {
    const index_t t = 4, d = 3;
    const auto p = random_layer(d, 2);
    const auto h = block<mir::half>(t, d, 1);
    const auto g = block<mir::half>(t, d, 2);
    std::vector<mir::half> gin(static_cast<std::size_t>(t * d));
    mir::moca::mutable_rows<mir::half> gi(gin.data(), t, d);
    mir::moca::gradients grads;
    const auto vis = mir::moca::vision_positions::from_ranges({{0, 2}});
    mir::moca::backward(p, mir::row_view<mir::half>(h.data(), t, d), mir::row_view<mir::half>(g.data(), t, d), vis, grads, &gi);
    REQUIRE(grads.scale.size() == d);
    for (index_t j = 0; j < d; ++j) {
        double su = 0, sv = 0;
        for (index_t i = 0; i < 2; ++i) {
            const double gg = static_cast<float>(g[static_cast<std::size_t>(i * d + j)]);
            su += gg * static_cast<float>(h[static_cast<std::size_t>(i * d + j)]);
            sv += gg;
            CHECK(same_bits(gin[static_cast<std::size_t>(i * d + j)],
                            mir::half(static_cast<float>(p.scale[j]) * static_cast<float>(g[static_cast<std::size_t>(i * d + j)]))));
        }
        CHECK(grads.scale[j] == Approx(su).epsilon(1e-15));
        CHECK(grads.shift[j] == Approx(sv).epsilon(1e-15));
        for (index_t i = 2; i < t; ++i) CHECK(same_bits(gin[static_cast<std::size_t>(i * d + j)], g[static_cast<std::size_t>(i * d + j)]));
    }
}

TEST_CASE("moca initialisation: identity at std 0 and a portable seeded normal", "[moca]") {
    const auto c0 = mir::moca::init_calibration(3, 8);
    REQUIRE(c0.num_layers() == 3);
    REQUIRE(c0.hidden_size() == 8);
    for (const auto& l : c0.layers) {
        CHECK(l.scale == Eigen::VectorXd::Ones(8));
        CHECK(l.shift == Eigen::VectorXd::Zero(8));
    }
    // splitmix64's published first output for seed 0.
    mir::moca::splitmix64 sm(0);
    CHECK(sm.next() == 0xe220a8397b1dcdafULL);

    mir::moca::init_options o;
    o.stddev = 0.02;
    o.seed = 42;
    const auto a = mir::moca::init_calibration(4, 2048, o);
    const auto b = mir::moca::init_calibration(4, 2048, o);
    o.seed = 43;
    const auto c = mir::moca::init_calibration(4, 2048, o);
    for (std::size_t i = 0; i < 4; ++i) {
        CHECK(a.layers[i].scale == b.layers[i].scale);
        CHECK(a.layers[i].shift == b.layers[i].shift);
        CHECK(a.layers[i].scale != c.layers[i].scale);
        const auto& u = a.layers[i].scale;
        const auto& v = a.layers[i].shift;
        const double mu = u.mean(), mv = v.mean();
        const double su = std::sqrt((u.array() - mu).square().sum() / 2047.0);
        const double sv = std::sqrt((v.array() - mv).square().sum() / 2047.0);
        CHECK(std::abs(mu - 1.0) < 4 * 0.02 / std::sqrt(2048.0));
        CHECK(std::abs(mv) < 4 * 0.02 / std::sqrt(2048.0));
        CHECK(su == Approx(0.02).epsilon(0.08));
        CHECK(sv == Approx(0.02).epsilon(0.08));
    }
    CHECK(a.layers[0].scale != a.layers[1].scale);
    CHECK_THROWS_AS(mir::moca::init_calibration(2, 4, {-1.0, 0}), mir::argument_error);
}

namespace {

// Vision rows unlike the text rows (other means and scales per dimension),
// with a few far rows so that the 3σ rule fires.
rows_d vision_rows(index_t n, index_t d, unsigned seed) {
    rows_d v = mir_test::gaussian_rows(n, d, seed, 3.0, 0.0);
    for (index_t j = 0; j < d; ++j) v.col(j).array() = v.col(j).array() * (0.5 + 0.25 * static_cast<double>(j % 5)) + 2.0 - 0.3 * static_cast<double>(j);
    for (index_t i = 0; i < 3; ++i) v.row(i) *= 25.0;
    return v;
}

Eigen::VectorXd col_mean(const rows_d& x) { return x.colwise().mean().transpose(); }
Eigen::VectorXd col_std(const rows_d& x) {
    const Eigen::RowVectorXd m = x.colwise().mean();
    return ((x.rowwise() - m).array().square().colwise().sum() / static_cast<double>(x.rows() - 1)).sqrt().transpose();
}

// The rows that entered a modality's statistics under the policy, as a matrix.
rows_d entered_rows(const rows_d& x, mir::outlier_policy policy) {
    const mir::row_view<double> v(x.data(), x.rows(), x.cols());
    const auto norms = mir::row_norms(v);
    const auto rule = mir::outlier_rule::fit(norms);
    const Eigen::VectorXd median = mir::per_dimension_lower_median(v);
    rows_d out(0, x.cols());
    for (index_t i = 0; i < x.rows(); ++i) {
        const bool o = policy != mir::outlier_policy::none && rule.is_outlier(norms[static_cast<std::size_t>(i)]);
        if (o && policy == mir::outlier_policy::drop) continue;
        out.conservativeResize(out.rows() + 1, Eigen::NoChange);
        out.row(out.rows() - 1) = o ? rows_d(median.transpose()) : rows_d(x.row(i));
    }
    return out;
}

rows_d apply(const rows_d& x, const mir::moca::layer_calibration& p) {
    rows_d y = x;
    for (index_t i = 0; i < y.rows(); ++i) y.row(i) = y.row(i).cwiseProduct(p.scale.transpose()) + p.shift.transpose();
    return y;
}

double max_rel(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
    return ((a - b).array().abs() / b.array().abs().max(1e-300)).maxCoeff();
}

}  // namespace

TEST_CASE("moca moment matching maps vision means and stds onto the text rows", "[moca]") {
    const index_t d = 12;
    rows_d v = vision_rows(200, d, 8);
    v.col(5).setConstant(0.75);  // a degenerate dimension: u = 1, v = μt − μv
    const rows_d t = mir_test::gaussian_rows(150, d, 9, 1.0, -0.4);
    for (auto policy : {mir::outlier_policy::none, mir::outlier_policy::drop, mir::outlier_policy::replace_median}) {
        INFO(std::string(mir::to_string(policy)));
        const auto s = mir::compute_layer_statistics(mir::row_view<double>(v.data(), v.rows(), d),
                                                           mir::row_view<double>(t.data(), t.rows(), d), policy, 3);
        if (policy != mir::outlier_policy::none) CHECK(s.vision.outliers == 3);
        const auto r = mir::moca::moment_match(s);
        CHECK(r.degenerate_dims == 1);
        CHECK(r.params.scale[5] == 1.0);
        const rows_d ve = entered_rows(v, policy), te = entered_rows(t, policy);
        const rows_d calibrated = apply(ve, r.params);
        Eigen::VectorXd mt = col_mean(te), st = col_std(te), mc = col_mean(calibrated), sc = col_std(calibrated);
        CHECK(max_rel(mc, mt) <= 1e-9);
        CHECK(std::abs(mc[5] - mt[5]) <= 1e-12);
        st[5] = sc[5] = 1.0;  // the degenerate dimension keeps its zero spread
        CHECK(max_rel(sc, st) <= 1e-9);
        CHECK(r.fid_after() < r.fid_before());
    }
}

TEST_CASE("moca closed-form FID after calibration equals the FID of the calibrated rows under policy none", "[moca]") {
    for (index_t n : {300, 9}) {  // full rank, and fewer vision rows than d (the factor route)
        INFO(n);
        const index_t d = 16;
        const rows_d v = vision_rows(n, d, 12);
        const rows_d t = mir_test::gaussian_rows(240, d, 13, 1.0, 0.2);
        const auto s = mir::compute_layer_statistics(mir::row_view<double>(v.data(), n, d),
                                                           mir::row_view<double>(t.data(), t.rows(), d),
                                                           mir::outlier_policy::none);
        const auto r = mir::moca::moment_match(s);
        mir::layer_options lo;
        lo.policy = mir::outlier_policy::none;
        const rows_d c = apply(v, r.params);
        const auto before = mir::compute_layer(mir::row_view<double>(v.data(), n, d), mir::row_view<double>(t.data(), t.rows(), d), lo);
        const auto after = mir::compute_layer(mir::row_view<double>(c.data(), n, d), mir::row_view<double>(t.data(), t.rows(), d), lo);
        CHECK(r.fid_before() == Approx(before.fid).epsilon(1e-10));
        CHECK(r.fid_after() == Approx(after.fid).epsilon(1e-8));
        CHECK(r.fid_after() < 0.5 * r.fid_before());
    }
}

TEST_CASE("moca statistics from a replayed source equal the in-memory statistics", "[moca]") {
    const index_t d = 10;
    const rows_d v = vision_rows(90, d, 31);
    const rows_d t = mir_test::gaussian_rows(70, d, 32);
    const std::vector<mir::half> vh = [&] {
        std::vector<mir::half> o(static_cast<std::size_t>(v.size()));
        for (index_t i = 0; i < v.size(); ++i) o[static_cast<std::size_t>(i)] = mir::half(static_cast<float>(v.data()[i]));
        return o;
    }();
    for (auto policy : {mir::outlier_policy::none, mir::outlier_policy::drop, mir::outlier_policy::replace_median}) {
        INFO(std::string(mir::to_string(policy)));
        const auto ref = mir::compute_layer_statistics(mir::row_view<mir::half>(vh.data(), 90, d),
                                                             mir::row_view<double>(t.data(), 70, d), policy, 2);
        const auto replay = [&](auto&& sink) {
            for (index_t first = 0; first < 90; first += 25) {
                sink(true, mir::row_view<mir::half>(vh.data() + first * d, std::min<index_t>(25, 90 - first), d));
                if (first < 70) sink(false, mir::row_view<double>(t.data() + first * d, std::min<index_t>(25, 70 - first), d));
            }
        };
        const auto got = mir::compute_layer_statistics_multipass(replay, d, policy, 2);
        CHECK(got.alpha == Approx(ref.alpha).epsilon(1e-14));
        CHECK(got.vision.outliers == ref.vision.outliers);
        CHECK((got.vision.gaussian.mean - ref.vision.gaussian.mean).norm() <= 1e-12 * ref.vision.gaussian.mean.norm());
        CHECK((got.vision.gaussian.covariance - ref.vision.gaussian.covariance).norm() <=
              1e-12 * ref.vision.gaussian.covariance.norm());
        CHECK((got.text.gaussian.covariance - ref.text.gaussian.covariance).norm() <=
              1e-12 * ref.text.gaussian.covariance.norm());
        const auto a = mir::moca::moment_match(got), b = mir::moca::moment_match(ref);
        CHECK(a.fid_after() == Approx(b.fid_after()).epsilon(1e-10));
    }
}
