// mir/linalg/official_fast.hpp — an EMULATION of what the official "fast"
// mode (mir.py --mode fast, mir_util.calculate_fid_pytorch) puts where
// Tr (Σv Σt)^{1/2} belongs. It is not a square root and not a Fréchet
// distance term; it exists so that users can compare with published MIR
// values, which are values of this computation (SPEC §3).
//
// The official code, on the α-scaled float32 rows after the 3σ rule:
//   Σ = float32 centred covariance / (n − 1)   (each side)
//   A = Σv Σt                                  (float32 product)
//   Y = A; Z = I; repeat 5 times: Y = ½(Y + Z⁻¹A); Z = ½(Z + Y⁻¹A)
//                                              (float32 LU inverses, torch.inverse)
//   the trace of Y's real part
// (A, I) is a fixed point in exact arithmetic (mir/linalg/official_loop.hpp),
// but once κ(A)·ε_fp32 ≳ 1 — every realistic layer, and every layer where a
// side has fewer rows than d — the float32 inverse of A is garbage, Z blows
// up after the first step, Z⁻¹A ≈ 0 and each remaining step halves Y: the
// loop returns about A/16. This header reproduces those steps in float32.
//
// The documented approximation (the seam of mir/metric/layer.hpp): the
// covariances come from the project's statistics — fp64 covariances of the
// raw rows after the outlier policy, multiplied by α² in fp64 — and are
// rounded to float32 here, instead of being accumulated in float32 from
// float32 rows. Where the loop collapses its last digits depend on rounding
// anyway, so bit-equality with PyTorch is not the aim; the agreement with
// values the official code returned is measured in docs/comparing.md.
#pragma once

#include <Eigen/Core>

#include "mir/backend/backend.hpp"
#include "mir/linalg/matrix_sqrt.hpp"
#include "mir/linalg/official_loop.hpp"

namespace mir {

/// The official fast mode's loop length (mir_util.MatrixSquareRoot).
inline constexpr int official_fast_iterations = 5;

/// What the emulation returns: the trace (in place of Tr (S1 S2)^{1/2}),
/// the loop steps completed and how the loop ended (max_iter when it ran
/// all five steps; breakdown when an inverse failed or a value stopped
/// being finite — the official code would then return NaN or raise — with
/// the last finite Y traced).
struct official_fast_result {
    double value = 0.0;
    int iterations = 0;
    sqrt_status status = sqrt_status::max_iter;
};

/// The emulation on covariances S1, S2 (lower triangles read) multiplied
/// by `scale` in fp64 and then rounded to float32: pass α² and the raw
/// covariances to reproduce the official computation on α-scaled rows.
[[nodiscard]] inline official_fast_result official_fast_trace(const Eigen::MatrixXd& s1, const Eigen::MatrixXd& s2,
                                                              double scale = 1.0) {
    const auto to_f32 = [scale](const Eigen::MatrixXd& s) {
        Eigen::MatrixXd f = s;
        f.triangularView<Eigen::StrictlyUpper>() = f.transpose();
        return backend::matrix<float>((scale * f).cast<float>());
    };
    official_fast_result out;
    if (s1.rows() == 0) return out;
    const backend::matrix<float> f1 = to_f32(s1), f2 = to_f32(s2);
    backend::matrix<float> a;
    backend::active::gemm<float>(f1, f2, a);  // the float32 product
    const matrix_sqrt_result<float> r = official_loop<float>(a, official_fast_iterations);
    double t = 0.0;  // torch.trace of the real part (Y is real here); summed in double
    for (index_t i = 0; i < r.sqrt.rows(); ++i) t += static_cast<double>(r.sqrt(i, i));
    out.value = t;
    out.iterations = r.iterations;
    out.status = r.status;
    return out;
}

}  // namespace mir
