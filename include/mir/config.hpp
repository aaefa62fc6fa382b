// mir/config.hpp — version, build switches and the few macros every header uses.
#pragma once

// MIR_VERSION_MAJOR / _MINOR / _PATCH / _STRING, generated from
// project(VERSION) into the build tree's include directory (and installed).
#include <mir/version.hpp>

// MIR_USE_LAPACK: route covariance updates and eigenvalues through
// OpenBLAS/LAPACKE. The CMake target sets it; a consumer without the target
// gets the pure-Eigen path.
#ifndef MIR_USE_LAPACK
#define MIR_USE_LAPACK 0
#endif

// One place that maps the CUDA compiler's macros to ours (DESIGN.md: CUDA
// code lives in opt-in headers; the core must still compile under nvcc).
#if defined(__CUDACC__)
#define MIR_CUDA_COMPILER 1
#else
#define MIR_CUDA_COMPILER 0
#endif
#if defined(__CUDA_ARCH__)
#define MIR_DEVICE_CODE 1
#else
#define MIR_DEVICE_CODE 0
#endif

// Preconditions inside hot loops. Overridable, like Eigen's eigen_assert:
// define MIR_ASSERT before including any mir header to change it.
#ifndef MIR_ASSERT
#include <cassert>
#define MIR_ASSERT(cond) assert(cond)
#endif
