// Approximate matrix square roots (mir/linalg/sqrt_methods.hpp and one
// header per method): known square roots in float and double, iteration
// counters and residuals, the official loop's fixed point (SPEC §3),
// reference-fast = Tr(S1 S2), Newton–Schulz accuracy targets, singular
// inputs, float32 floors.
#include <catch2/catch.hpp>

#include <mir/mir.hpp>

#include <Eigen/Dense>

#include <cmath>

#include "../support/random.hpp"

namespace {

template <class Real>
using Mat = Eigen::Matrix<Real, Eigen::Dynamic, Eigen::Dynamic>;

double rel(double got, double want) { return std::abs(got - want) / std::abs(want); }

/// A symmetric PSD matrix Q diag(λ) Qᵀ with a known square root Q diag(√λ) Qᵀ.
struct known {
    Eigen::MatrixXd a, root;
};

known rotated(const Eigen::VectorXd& lambda, unsigned seed) {
    const Eigen::MatrixXd q = mir_test::random_orthogonal(lambda.size(), seed);
    return {mir_test::with_spectrum(q, lambda), mir_test::with_spectrum(q, lambda.array().sqrt().matrix())};
}

template <class Real>
mir::matrix_sqrt_result<Real> run(mir::sqrt_method m, const Mat<Real>& a) {
    switch (m) {
        case mir::sqrt_method::newton_schulz: return mir::newton_schulz_sqrt<Real>(a);
        case mir::sqrt_method::denman_beavers: return mir::denman_beavers_sqrt<Real>(a);
        case mir::sqrt_method::pade: return mir::pade_sqrt<Real>(a, 8, 8);
        default: return mir::taylor_sqrt<Real>(a, 40);
    }
}

template <class Real>
void check_known_roots(mir::sqrt_method m) {
    CAPTURE(mir::to_string(m), sizeof(Real));
    // The iterations converge to rounding; the fixed-degree approximants
    // ([8/8] Padé, degree-40 Taylor) to about 1e-8 on this spectrum.
    const bool direct = m == mir::sqrt_method::pade || m == mir::sqrt_method::taylor;
    const double tol = sizeof(Real) >= 8 ? (direct ? 1e-7 : 1e-9) : (direct ? 3e-5 : 1e-5);
    // Well-conditioned (eigenvalues in [0.5, 1]) so that the fixed-degree
    // approximants are accurate too.
    Eigen::VectorXd lam(6);
    lam << 1.0, 0.9, 0.8, 0.7, 0.6, 0.5;
    const Eigen::MatrixXd diag = lam.asDiagonal();
    const auto r1 = run<Real>(m, Mat<Real>(diag.cast<Real>()));
    CHECK((r1.sqrt.template cast<double>() - Eigen::MatrixXd(lam.array().sqrt().matrix().asDiagonal())).norm() <= tol);
    const known k = rotated(lam, 5);
    const auto r2 = run<Real>(m, Mat<Real>(k.a.cast<Real>()));
    CHECK((r2.sqrt.template cast<double>() - k.root).norm() <= tol * k.root.norm());
    CHECK(r2.sqrt.allFinite());
}

}  // namespace

TEST_CASE("sqrt methods: names parse and print in sync", "[sqrt_methods]") {
    for (auto m : {mir::sqrt_method::exact, mir::sqrt_method::reference_fast, mir::sqrt_method::newton_schulz,
                   mir::sqrt_method::denman_beavers, mir::sqrt_method::pade, mir::sqrt_method::taylor,
                   mir::sqrt_method::official_fast}) {
        CHECK(mir::parse_sqrt_method(mir::to_string(m)) == m);
    }
    CHECK(mir::to_string(mir::sqrt_method::newton_schulz) == "newton-schulz");
    CHECK(mir::to_string(mir::sqrt_method::denman_beavers) == "denman-beavers");
    CHECK_THROWS_AS(mir::parse_sqrt_method("official-literal"), mir::argument_error);
    CHECK(mir::is_iterative(mir::sqrt_method::newton_schulz));
    CHECK_FALSE(mir::is_iterative(mir::sqrt_method::pade));
}

TEST_CASE("sqrt methods: known square roots (diagonal and rotated) in fp64 and fp32", "[sqrt_methods]") {
    for (auto m : {mir::sqrt_method::newton_schulz, mir::sqrt_method::denman_beavers, mir::sqrt_method::pade,
                   mir::sqrt_method::taylor}) {
        check_known_roots<double>(m);
        check_known_roots<float>(m);
    }
}

TEST_CASE("sqrtm_psd: exact full square root, rank-deficient input without NaN", "[sqrt_methods]") {
    Eigen::VectorXd lam = mir_test::log_spectrum(12, 1e6);
    lam.tail(4).setZero();
    const known k = rotated(lam, 9);
    const Eigen::MatrixXd r = mir::sqrtm_psd(k.a);
    CHECK(r.allFinite());
    CHECK((r - k.root).norm() <= 1e-7 * k.root.norm());
    CHECK((r * r - k.a).norm() <= 1e-13 * k.a.norm());
}

TEST_CASE("newton_schulz: iterations and residual, automatic stopping", "[sqrt_methods]") {
    const known k = rotated(mir_test::log_spectrum(32, 1e4), 3);
    const auto r = mir::newton_schulz_sqrt<double>(k.a);
    CHECK(r.status == mir::sqrt_status::converged);
    CHECK(r.residual <= mir::default_sqrt_tol<double>());
    // Small eigenvalues grow ×2.25 per step: about log(κ√d)/log 2.25 + a few quadratic steps.
    CHECK(r.iterations >= 10);
    CHECK(r.iterations <= 30);
    CHECK(rel(r.trace(), k.root.trace()) <= 1e-12);
    // A cap on the iterations is reported as such, with the best iterate so far.
    mir::iteration_control ctl;
    ctl.max_iter = 5;
    const auto capped = mir::newton_schulz_sqrt<double>(k.a, mir::sqrt_normalization::frobenius, ctl);
    CHECK(capped.status == mir::sqrt_status::max_iter);
    CHECK(capped.iterations == 5);
    CHECK(capped.residual > r.residual);
    // The residual bounds the relative error of the trace (newton_schulz.hpp).
    CHECK(rel(capped.trace(), k.root.trace()) <= capped.residual);
    // Trace normalisation converges too (more steps: c = Tr A ≥ ‖A‖_F).
    const auto tr = mir::newton_schulz_sqrt<double>(k.a, mir::sqrt_normalization::trace);
    CHECK(tr.status == mir::sqrt_status::converged);
    CHECK(tr.iterations >= r.iterations);
    CHECK(rel(tr.trace(), k.root.trace()) <= 1e-12);
}

TEST_CASE("denman_beavers: scaling shortens the iteration", "[sqrt_methods]") {
    const known k = rotated(mir_test::log_spectrum(24, 1e8), 4);
    const auto scaled = mir::denman_beavers_sqrt<double>(k.a, true);
    const auto plain = mir::denman_beavers_sqrt<double>(k.a, false);
    CHECK(scaled.status == mir::sqrt_status::converged);
    CHECK(plain.status == mir::sqrt_status::converged);
    CHECK(scaled.iterations < plain.iterations);
    CHECK(rel(scaled.trace(), k.root.trace()) <= 1e-10);
    CHECK(rel(plain.trace(), k.root.trace()) <= 1e-10);
}

TEST_CASE("official loop: (A, I) is a fixed point, so it returns its input (SPEC 3)", "[sqrt_methods]") {
    const known k = rotated(mir_test::log_spectrum(16, 1e2), 6);
    // Near exact arithmetic (long double): Y stays A and Z stays I at every
    // step. (The fixed point is not attracting: rounding grows by about an
    // order of magnitude per step, which is where float32 noise comes from.)
    using LD = Mat<long double>;
    const LD a = k.a.cast<long double>();
    LD z;
    const auto r = mir::official_loop<long double>(a, 5, &z);
    CHECK(r.iterations == 5);
    CHECK(static_cast<double>((r.sqrt - a).norm() / a.norm()) <= 1e-11);
    CHECK(static_cast<double>((z - LD::Identity(16, 16)).norm()) <= 1e-11);
    CHECK(r.residual <= 1e-11);
    // So it is not a square root: Tr Y = Tr A, not Tr A^{1/2}.
    CHECK(rel(r.trace(), k.a.trace()) <= 1e-12);
    CHECK(rel(r.trace(), k.root.trace()) > 0.1);
    // The literal float32 emulation on a covariance pair returns Tr(S1 S2)
    // plus float32 noise, which is what reference-fast computes exactly.
    const Eigen::MatrixXd s1 = mir_test::with_spectrum(mir_test::random_orthogonal(32, 1), mir_test::log_spectrum(32, 10));
    const Eigen::MatrixXd s2 = mir_test::with_spectrum(mir_test::random_orthogonal(32, 2), mir_test::log_spectrum(32, 10));
    const auto lit = mir::official_loop_literal(s1, s2);
    const double trprod = mir::trace_of_product(s1, s2);
    CHECK(rel(lit.trace(), trprod) <= 1e-4);
    CHECK(rel(lit.trace(), mir::trace_sqrt_product(s1, s2)) > 0.1);
}

TEST_CASE("reference-fast through the options equals Tr(S1 S2)", "[sqrt_methods]") {
    const Eigen::MatrixXd s1 = mir_test::with_spectrum(mir_test::random_orthogonal(20, 1), mir_test::log_spectrum(20, 1e3));
    const Eigen::MatrixXd s2 = mir_test::with_spectrum(mir_test::random_orthogonal(20, 2), mir_test::log_spectrum(20, 1e3));
    const auto r = mir::trace_sqrt_with(s1, s2, mir::sqrt_options(mir::sqrt_method::reference_fast));
    CHECK(r.value == Approx((s1 * s2).trace()).epsilon(1e-13));
    CHECK(r.status == mir::sqrt_status::not_iterative);
    CHECK(r.route == mir::trace_sqrt_route::reference_fast);
    const auto e = mir::trace_sqrt_with(s1, s2, mir::sqrt_options{});
    CHECK(e.value == mir::trace_sqrt_product(s1, s2));
}

TEST_CASE("newton-schulz: accuracy targets against exact, fp64, automatic stopping", "[sqrt_methods]") {
    // ≤ 1e-8 relative for κ ≤ 1e4 per covariance, ≤ 1e-6 for κ ≤ 1e6.
    const Eigen::Index d = 64;
    for (double kappa : {1e2, 1e4, 1e6}) {
        for (auto form : {mir::sqrt_form::symmetric, mir::sqrt_form::product}) {
            CAPTURE(kappa, mir::to_string(form));
            const Eigen::MatrixXd s1 = mir_test::with_spectrum(mir_test::random_orthogonal(d, 11), mir_test::log_spectrum(d, kappa));
            const Eigen::MatrixXd s2 = mir_test::with_spectrum(mir_test::random_orthogonal(d, 12), mir_test::log_spectrum(d, kappa));
            mir::sqrt_options o(mir::sqrt_method::newton_schulz);
            o.form = form;
            const auto r = mir::trace_sqrt_with(s1, s2, o);
            const double target = kappa <= 1e4 ? 1e-8 : 1e-6;
            CHECK(rel(r.value, mir::trace_sqrt_product(s1, s2)) <= target);
            CHECK(r.iterations > 0);
            CHECK(r.iterations < 100);
            CHECK(r.route == (form == mir::sqrt_form::symmetric ? mir::trace_sqrt_route::symmetric_form
                                                                 : mir::trace_sqrt_route::product_form));
        }
    }
}

TEST_CASE("sqrt methods: singular and rank-deficient inputs never give NaN", "[sqrt_methods]") {
    const Eigen::Index d = 40;
    // Fewer rows than d on both sides: exactly singular covariances.
    const auto rows = [](Eigen::Index n, Eigen::Index dd, unsigned seed) {
        const auto x = mir_test::gaussian_rows(n, dd, seed);
        const Eigen::MatrixXd f = x.rowwise() - x.colwise().mean();
        return Eigen::MatrixXd(f.transpose() * f / static_cast<double>(n - 1));
    };
    const Eigen::MatrixXd s1 = rows(15, d, 1), s2 = rows(25, d, 2);
    const double exact = mir::trace_sqrt_product(s1, s2);
    for (auto m : {mir::sqrt_method::newton_schulz, mir::sqrt_method::denman_beavers, mir::sqrt_method::pade,
                   mir::sqrt_method::taylor}) {
        for (auto form : {mir::sqrt_form::symmetric, mir::sqrt_form::product}) {
            for (auto p : {mir::precision::fp64, mir::precision::fp32}) {
                CAPTURE(mir::to_string(m), mir::to_string(form), mir::to_string(p));
                mir::sqrt_options o(m);
                o.form = form;
                o.precision = p;
                const auto r = mir::trace_sqrt_with(s1, s2, o);
                CHECK(std::isfinite(r.value));
                CHECK(std::isfinite(r.residual));
                CHECK(r.value >= 0);
                if (mir::is_iterative(m) && form == mir::sqrt_form::symmetric) {
                    // The rank-revealing symmetric form removes the null space.
                    CHECK(rel(r.value, exact) <= (p == mir::precision::fp64 ? 1e-10 : 1e-4));
                }
            }
        }
    }
    // The zero matrix and a rank-one matrix.
    const Eigen::MatrixXd zero = Eigen::MatrixXd::Zero(8, 8);
    const auto z = mir::trace_sqrt_with(zero, zero, mir::sqrt_options(mir::sqrt_method::newton_schulz));
    CHECK(z.value == 0.0);
    const Eigen::VectorXd v = Eigen::VectorXd::LinSpaced(8, 1, 2);
    const Eigen::MatrixXd one = v * v.transpose();
    const auto ns = mir::newton_schulz_sqrt<double>(one);
    CHECK(ns.sqrt.allFinite());
    CHECK(rel(ns.trace(), v.norm()) <= 1e-6);  // (v vᵀ)^{1/2} = v vᵀ / ‖v‖
    const auto nsf = mir::newton_schulz_sqrt<float>(one.cast<float>());
    CHECK(nsf.sqrt.allFinite());
    CHECK(nsf.status != mir::sqrt_status::converged);  // zero directions keep the residual ≥ 1
}

TEST_CASE("newton-schulz fp32 reaches its floor without diverging", "[sqrt_methods]") {
    const Eigen::Index d = 48;
    for (double kappa : {1e2, 1e4, 1e6, 1e8}) {
        CAPTURE(kappa);
        const Eigen::MatrixXd s1 = mir_test::with_spectrum(mir_test::random_orthogonal(d, 21), mir_test::log_spectrum(d, kappa));
        const Eigen::MatrixXd s2 = mir_test::with_spectrum(mir_test::random_orthogonal(d, 22), mir_test::log_spectrum(d, kappa));
        mir::sqrt_options o(mir::sqrt_method::newton_schulz);
        o.precision = mir::precision::fp32;
        o.max_iter = 1000;
        const auto r = mir::trace_sqrt_with(s1, s2, o);
        CHECK(std::isfinite(r.value));
        CHECK(r.status != mir::sqrt_status::breakdown);
        CHECK(r.status != mir::sqrt_status::max_iter);  // it stops by itself, at its floor
        CHECK(rel(r.value, mir::trace_sqrt_product(s1, s2)) <= 1e-3);
    }
}

TEST_CASE("frechet_distance_terms: newton-schulz through layer options", "[sqrt_methods]") {
    const auto x = mir_test::gaussian_rows(90, 24, 1, 1.0, 0.0);
    const auto y = mir_test::gaussian_rows(70, 24, 2, 1.5, 0.3);
    const mir::row_view<double> vx(x.data(), x.rows(), x.cols()), vy(y.data(), y.rows(), y.cols());
    mir::layer_options exact_opt;
    mir::layer_options ns_opt;
    ns_opt.sqrt = mir::sqrt_method::newton_schulz;  // a method converts to options
    ns_opt.sqrt.tol = 1e-12;
    const auto e = mir::compute_layer(vx, vy, exact_opt);
    const auto n = mir::compute_layer(vx, vy, ns_opt);
    CHECK(rel(n.fid, e.fid) <= 1e-9);
    CHECK(n.terms.sqrt_iterations > 0);
    CHECK(n.terms.sqrt_residual <= 1e-12);
    CHECK(n.terms.sqrt_outcome == mir::sqrt_status::converged);
    CHECK(e.terms.sqrt_iterations == 0);
}
