// The backend seam: a backend chosen from outside (MIR_BACKEND_HEADER, as a
// CUDA backend would be) receives every dense kernel of the statistics and
// the trace square roots, and a failing eigenvalue solver becomes a status.

#include <catch2/catch.hpp>

#include <mir/mir.hpp>

#include <random>
#include <string_view>
#include <vector>

static_assert(std::string_view(MIR_BACKEND_HEADER) == "counting_backend.hpp");

namespace {

std::vector<double> random_rows(mir::index_t n, mir::index_t d, unsigned seed, double shift) {
    std::mt19937_64 g(seed);
    std::normal_distribution<double> z;
    std::vector<double> v(static_cast<std::size_t>(n * d));
    for (auto& x : v) x = z(g) + shift;
    return v;
}

}  // namespace

TEST_CASE("the active backend is the one selected from outside", "[backend]") {
    CHECK(std::string_view(mir::backend::active::name()) == "counting");
}

TEST_CASE("moments and the exact trace square root run on the selected backend", "[backend]") {
    auto& c = mir::backend::counting::calls();
    c = {};
    const mir::index_t d = 8;
    const auto v = random_rows(300, d, 1, 0.5), t = random_rows(200, d, 2, -0.5);
    const mir::layer_result r =
        mir::compute_layer(mir::row_view<double>(v.data(), 300, d), mir::row_view<double>(t.data(), 200, d));
    CHECK(r.fid > 0.0);
    CHECK(c.syrk >= 2);          // one rank-k update per block per modality
    CHECK(c.cholesky >= 1);      // the exact route
    CHECK(c.congruence == 1);
    CHECK(c.eigenvalues == 1);

    c = {};
    mir::sqrt_options o(mir::sqrt_method::newton_schulz);
    const mir::sqrt_result ns = mir::trace_sqrt_with(Eigen::MatrixXd::Identity(d, d), Eigen::MatrixXd::Identity(d, d), o);
    CHECK(ns.value == Approx(static_cast<double>(d)).epsilon(1e-8));
    CHECK(c.pivoted == 2);  // the symmetric form factors both sides
    CHECK(c.gemm >= 2);
}

TEST_CASE("an eigenvalue solver failure is a status, and MIR refuses it naming the layer", "[backend]") {
    auto& c = mir::backend::counting::calls();
    c = {};
    c.fail_eigenvalues = true;
    const mir::index_t d = 6;
    Eigen::MatrixXd s1 = Eigen::MatrixXd::Identity(d, d), s2 = 2.0 * Eigen::MatrixXd::Identity(d, d);
    const mir::trace_sqrt_result r = mir::trace_sqrt_product_detailed(s1, s2);
    CHECK(r.status == mir::trace_sqrt_status::eigensolver_failed);
    CHECK_THROWS_AS(mir::trace_sqrt_product(s1, s2), mir::numerical_error);
    CHECK(mir::trace_sqrt_with(s1, s2, mir::sqrt_options{}).status == mir::sqrt_status::solver_failed);

    const auto v = random_rows(40, d, 3, 0.0), t = random_rows(40, d, 4, 1.0);
    mir::layer_options opt;
    opt.layer = 5;
    const mir::layer_result l =
        mir::compute_layer(mir::row_view<double>(v.data(), 40, d), mir::row_view<double>(t.data(), 40, d), opt);
    CHECK(l.terms.sqrt_outcome == mir::sqrt_status::solver_failed);
    try {
        (void)mir::aggregate({l});
        FAIL("aggregate accepted a layer whose solver failed");
    } catch (const mir::numerical_error& e) {
        CHECK(e.kind() == mir::error_kind::numerical);
        CHECK(e.context().layer == 5);
        CHECK_THAT(e.what(), Catch::Contains("layer 5") && Catch::Contains("did not converge"));
    }
    c.fail_eigenvalues = false;
}

TEST_CASE("errors carry a kind and a context that code on the way up can extend", "[backend][errors]") {
    try {
        try {
            throw mir::shape_error("rows have 3 columns", mir::error_context{"", "", -1, 2});
        } catch (mir::error& e) {
            e.in_sample(4).in_file("a.safetensors").in_layer(9);  // the layer is known already: kept
            throw;
        }
    } catch (const mir::shape_error& e) {  // the dynamic type survived
        CHECK(e.kind() == mir::error_kind::shape);
        CHECK(e.context().layer == 2);
        CHECK(e.context().sample == 4);
        CHECK(e.message() == "rows have 3 columns");
        CHECK(std::string(e.what()) == "a.safetensors: sample 4, layer 2: rows have 3 columns");
    }
}
