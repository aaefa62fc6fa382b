// mir/backend/backend.hpp — the seam between mir's numerics and the dense
// kernels they need, and the one place a backend is chosen.
//
// A backend is a namespace mir::backend::<name> with these functions
// (column-major storage; see mir/backend/eigen.hpp for the contracts):
//   name()                                   the kernel family, for reports
//   threads(), set_threads(n) → bool         BLAS threads per call (mir/backend/threads.hpp);
//                                            false: this backend cannot be told
//   syrk_lower<Acc>(d, k, a, c)              C += A Aᵀ (lower), the rank-k update of the moments
//   syr_lower<Acc>(d, w, x, c)               C += w x xᵀ (lower), Chan's correction
//   gemm<Real>(a, b, c, α, β, ta, tb)        C := α op(A) op(B) + β C
//   cholesky_lower(a) → bool                 in-place Cholesky; false: not positive definite
//   congruence_lower(l, s)                   Lᵀ S L (two triangular multiplies)
//   symmetric_eigenvalues(a, w) → bool       eigenvalues only; false: the solver did not converge
//   symmetric_eigen_decomposition(a, λ, V) → bool
//   pivoted_cholesky_factor(s)               R (d × r) with S ≈ R Rᵀ
//   invert_inplace<Real>(a, log|det|) → bool, solve_inplace<Real>(q, b) → bool
// Failures are return values, never exceptions: callers turn them into a
// status in their result (trace_sqrt_result::status, sqrt_status).
//
// stats/ and linalg/ call mir::backend::active::… only. Adding a backend
// (e.g. CUDA: cuBLAS / cuSOLVER on host matrices) is a new header with the
// functions above plus a branch below; nothing in stats/ or linalg/ changes.
//
//   MIR_BACKEND_HEADER, MIR_BACKEND_NAMESPACE   a backend of your own:
//       #define MIR_BACKEND_HEADER "my/backend.hpp"
//       #define MIR_BACKEND_NAMESPACE my_backend   (inside mir::backend)
//   MIR_USE_LAPACK = 1                          CBLAS + LAPACKE (the CMake target sets it)
//   otherwise                                   pure Eigen
#pragma once

#include "mir/backend/eigen.hpp"
#include "mir/config.hpp"

#if defined(MIR_BACKEND_HEADER)
#include MIR_BACKEND_HEADER
namespace mir::backend {
namespace active = MIR_BACKEND_NAMESPACE;
}
#elif MIR_USE_LAPACK
#include "mir/backend/lapack.hpp"
namespace mir::backend {
namespace active = lapack;
}
#else
namespace mir::backend {
namespace active = eigen;
}
#endif
