// bench_trace_sqrt_eigen.cpp — the same benchmarks as bench_trace_sqrt.cpp,
// compiled with the pure-Eigen kernels. The mir target defines
// MIR_USE_LAPACK=1 on the command line when LAPACK is enabled;
// mir/config.hpp only supplies a default when the macro is undefined, so it
// is overridden here, before any header is included. The benchmark prints
// and records the value it was compiled with (context "mir_use_lapack").
// Built as its own executable: see the ODR note in bench_trace_sqrt.cpp.
#undef MIR_USE_LAPACK
#define MIR_USE_LAPACK 0
#include "bench_trace_sqrt.cpp"
