// `mir bench-sqrt`: the test matrices and their long-double references.
#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>

#include <mir/source/dump_source.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "bench_sqrt_detail.hpp"
#include "usage.hpp"

namespace mir::tool::sqrt_bench {

namespace {

using ld_matrix = Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic>;

// ---- Test matrices ---------------------------------------------------------------

Eigen::MatrixXd gaussian(index_t r, index_t c, std::mt19937_64& rng) {
    std::normal_distribution<double> n(0.0, 1.0);
    Eigen::MatrixXd g(r, c);
    for (index_t i = 0; i < g.size(); ++i) g.data()[i] = n(rng);
    return g;
}

/// A Haar-random orthogonal matrix: Q of the QR of a Gaussian matrix.
Eigen::MatrixXd random_orthogonal(index_t d, std::mt19937_64& rng) {
    Eigen::MatrixXd g = gaussian(d, d, rng);
#if MIR_USE_LAPACK
    std::vector<double> tau(static_cast<std::size_t>(d));
    const auto n = static_cast<lapack_int>(d);
    LAPACKE_dgeqrf(LAPACK_COL_MAJOR, n, n, g.data(), n, tau.data());
    LAPACKE_dorgqr(LAPACK_COL_MAJOR, n, n, n, g.data(), n, tau.data());
    return g;
#else
    Eigen::HouseholderQR<Eigen::MatrixXd> qr(g);
    return qr.householderQ() * Eigen::MatrixXd::Identity(d, d);
#endif
}

/// Eigenvalues log-spaced from 1 down to 1/kappa.
Eigen::VectorXd log_spectrum(index_t d, double kappa) {
    Eigen::VectorXd v(d);
    for (index_t i = 0; i < d; ++i) v[i] = std::pow(kappa, -static_cast<double>(i) / static_cast<double>(std::max<index_t>(1, d - 1)));
    return v;
}

Eigen::MatrixXd with_spectrum(const Eigen::MatrixXd& q, const Eigen::VectorXd& lambda) {
    const Eigen::MatrixXd w = q * lambda.asDiagonal();
    Eigen::MatrixXd s;
    backend::active::gemm<double>(w, q, s, 1.0, 0.0, false, true);
    return (0.5 * (s + s.transpose())).eval();
}

// ---- References ------------------------------------------------------------------

/// Σ √λ of a symmetric long-double matrix, eigenvalues above the cut-off.
long double sum_sqrt_ld(const ld_matrix& m) {
    Eigen::SelfAdjointEigenSolver<ld_matrix> es(m, Eigen::EigenvaluesOnly);
    const auto& l = es.eigenvalues();
    const long double cut = std::max(l.maxCoeff(), 0.0L) * static_cast<long double>(l.size()) *
                            std::numeric_limits<long double>::epsilon();
    long double s = 0;
    for (index_t i = 0; i < l.size(); ++i) {
        if (l[i] > cut) s += std::sqrt(l[i]);
    }
    return s;
}

/// Tr (S1 S2)^{1/2} in long double: Cholesky of S1 (or of S2) and the symmetric form.
long double reference_long_double(const Eigen::MatrixXd& s1, const Eigen::MatrixXd& s2) {
    const ld_matrix a = s1.cast<long double>(), b = s2.cast<long double>();
    for (int side = 0; side < 2; ++side) {
        Eigen::LLT<ld_matrix> llt(side == 0 ? a : b);
        if (llt.info() != Eigen::Success) continue;
        const ld_matrix l = llt.matrixL();
        const ld_matrix m = l.transpose() * (side == 0 ? b : a) * l;
        return sum_sqrt_ld(0.5L * (m + m.transpose()));
    }
    return -1;  // not positive definite: the caller falls back to the exact path
}


void set_reference(bench_case& c, long double closed_form = -1) {
    if (closed_form >= 0) {
        c.reference = closed_form;
        c.reference_kind = "closed-form";
        return;
    }
    if (c.d <= 256) {
        const long double r = reference_long_double(c.s1, c.s2);
        if (r >= 0) {
            c.reference = r;
            c.reference_kind = "long-double";
            return;
        }
    }
    c.reference = trace_sqrt_product(c.s1, c.s2);
    c.reference_kind = "exact";
}

}  // namespace

bench_case make_kappa_case(const std::string& pair, index_t d, double kappa, unsigned seed) {
    std::mt19937_64 rng(seed * 1000003ULL + static_cast<unsigned long long>(d) * 31 + static_cast<unsigned long long>(std::log10(kappa)));
    bench_case c;
    c.pair = pair;
    c.d = d;
    c.kappa = kappa;
    c.rows1 = c.rows2 = d;
    const Eigen::VectorXd l1 = log_spectrum(d, kappa);
    Eigen::VectorXd l2 = l1;
    std::shuffle(l2.data(), l2.data() + d, rng);
    const Eigen::MatrixXd q1 = random_orthogonal(d, rng);
    c.s1 = with_spectrum(q1, l1);
    if (pair == "commuting") {
        c.s2 = with_spectrum(q1, l2);
        long double s = 0;
        for (index_t i = 0; i < d; ++i) s += std::sqrt(static_cast<long double>(l1[i]) * static_cast<long double>(l2[i]));
        set_reference(c, s);
    } else {
        c.s2 = with_spectrum(random_orthogonal(d, rng), l2);
        set_reference(c);
    }
    return c;
}

/// Covariances of fewer rows than d: n1 = d/2 and n2 = 3d/4 Gaussian rows
/// with a spread of scales (κ 1e4 across directions), exactly rank-deficient.
bench_case make_rank_deficient_case(index_t d, unsigned seed) {
    std::mt19937_64 rng(seed * 7919ULL + static_cast<unsigned long long>(d));
    bench_case c;
    c.pair = "rank-deficient";
    c.d = d;
    c.rows1 = std::max<index_t>(2, d / 2);
    c.rows2 = std::max<index_t>(2, 3 * d / 4);
    const auto factor = [&](index_t n) {
        const Eigen::VectorXd scale = log_spectrum(d, 1e4).array().sqrt();
        Eigen::MatrixXd f = gaussian(n, d, rng) * scale.asDiagonal();
        const Eigen::MatrixXd q = random_orthogonal(d, rng);
        Eigen::MatrixXd fq;
        backend::active::gemm<double>(f, q, fq, 1.0, 0.0, false, true);
        return (fq / std::sqrt(static_cast<double>(n))).eval();
    };
    const Eigen::MatrixXd f1 = factor(c.rows1), f2 = factor(c.rows2);
    backend::active::gemm<double>(f1, f1, c.s1, 1.0, 0.0, true, false);
    backend::active::gemm<double>(f2, f2, c.s2, 1.0, 0.0, true, false);
    // Reference: the small-side problem F1 S2 F1ᵀ (n1 × n1), full rank.
    if (d <= 256) {
        const ld_matrix f = f1.cast<long double>();
        const ld_matrix m = f * c.s2.cast<long double>() * f.transpose();
        c.reference = sum_sqrt_ld(0.5L * (m + m.transpose()));
        c.reference_kind = "long-double";
    } else {
        c.reference = trace_sqrt_product_factor(f1, c.s2).value;
        c.reference_kind = "exact";
    }
    return c;
}

/// The two α-scaled covariances of one layer of a dump (replace-median
/// outliers, as `mir compute` by default).
bench_case make_dump_case(const std::string& path, int layer) {
    // The dump read as `mir compute` reads it: the same checks (every file from one model: K and hidden size;
    // duplicates; NaN/Inf named by file and layer) and the same statistics pipeline (replace-median outliers).
    const dump_source d = dump_source::open(std::filesystem::path(path));
    if (layer >= d.num_indices()) {
        throw usage_error("--layer " + std::to_string(layer) + ": out of range (the files have indices 0.." +
                          std::to_string(d.num_indices() - 1) + ")");
    }
    const int k = layer < 0 ? d.num_indices() - 1 : layer;
    const auto replay = [&](auto&& sink) { d.replay_layer(k, sink); };
    const layer_statistics s = compute_layer_statistics_multipass<double>(replay, d.hidden_size(),
                                                                          outlier_policy::replace_median, k);
    const double alpha = s.alpha;
    bench_case c;
    c.pair = "dump:layer" + std::to_string(k);
    c.d = d.hidden_size();
    c.rows1 = s.vision.gaussian.count;
    c.rows2 = s.text.gaussian.count;
    c.s1 = s.vision.gaussian.covariance * (alpha * alpha);
    c.s2 = s.text.gaussian.covariance * (alpha * alpha);
    c.s1.triangularView<Eigen::StrictlyUpper>() = c.s1.transpose();
    c.s2.triangularView<Eigen::StrictlyUpper>() = c.s2.transpose();
    set_reference(c);
    return c;
}

}  // namespace mir::tool::sqrt_bench
