// mir/backend/threads.hpp — how many threads the BLAS kernels use, and how
// a run divides the machine's cores between layers computed in parallel and
// the BLAS threads of each.
//
// Layers are independent, so running them in parallel, each with one BLAS
// thread, uses the cores with no synchronisation at all; OpenBLAS's own
// threads wait for one another at every call, and layer workers that each
// start multi-threaded OpenBLAS oversubscribe the cores (measured in
// docs/performance.md: 1.5× lost on 2 cores). plan_threads therefore gives
// each layer its own core first, and what is left to BLAS; never more busy
// threads than cores, and no more layer workers than the memory for their
// d × d states allows.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#include <unistd.h>
#endif

#include "mir/backend/backend.hpp"

namespace mir {

/// The threads the active backend's BLAS uses per call (1 where it cannot
/// be told: the pure-Eigen backend without OpenMP, another CBLAS).
[[nodiscard]] inline int blas_threads() noexcept { return backend::active::threads(); }

/// Sets the BLAS threads per call (process-wide, as OpenBLAS keeps it);
/// n >= 1. Returns false where the backend cannot be told (nothing changes).
inline bool set_blas_threads(int n) noexcept {
    if (n < 1) return false;
    return backend::active::set_threads(n);
}

/// The cores this process may run on: its CPU affinity mask on Linux (so
/// taskset, cgroups' cpusets and container limits count), else
/// std::thread::hardware_concurrency(); at least 1.
[[nodiscard]] inline int available_cores() noexcept {
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        const int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
#endif
    const unsigned n = std::thread::hardware_concurrency();
    return n > 0 ? static_cast<int>(n) : 1;
}

/// Physical memory available now, in bytes (0 where unknown).
[[nodiscard]] inline std::uint64_t available_memory() noexcept {
#if defined(__linux__) && defined(_SC_AVPHYS_PAGES)
    const long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages > 0 && size > 0) return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(size);
#endif
    return 0;
}

/// The bytes one layer worker holds at hidden size d, roughly: the two
/// modalities' d × d moments and the square root's d × d workspaces, in
/// fp64 (six matrices).
[[nodiscard]] constexpr std::uint64_t layer_worker_bytes(std::int64_t d) noexcept {
    return d > 0 ? 6u * static_cast<std::uint64_t>(d) * static_cast<std::uint64_t>(d) * sizeof(double) : 0;
}

/// How a run uses the cores.
struct thread_plan {
    int layer_workers = 1;  ///< layers computed in parallel
    int blas_threads = 1;   ///< BLAS threads per call in each of them
};

/// What to ask plan_threads for: 0 = choose (auto), else as given.
struct thread_request {
    int layer_workers = 0;
    int blas_threads = 0;
};

/// The plan for `layers` layers on `cores` cores with `memory` bytes
/// available (0 = unknown: no memory bound) at hidden size `d`.
///   * workers, when chosen: min(cores, layers, memory / layer_worker_bytes(d)),
///     at least 1;
///   * BLAS threads, when chosen: the cores left per worker,
///     max(1, cores / workers) — so workers × BLAS threads <= cores unless
///     both were given.
[[nodiscard]] constexpr thread_plan plan_threads(thread_request want, int cores, int layers, std::int64_t d = 0,
                                                 std::uint64_t memory = 0) noexcept {
    cores = std::max(1, cores);
    layers = std::max(1, layers);
    thread_plan p;
    if (want.layer_workers > 0) {
        p.layer_workers = std::min(want.layer_workers, layers);
    } else {
        int w = std::min(cores, layers);
        const std::uint64_t per = layer_worker_bytes(d);
        if (memory > 0 && per > 0) {
            const std::uint64_t fit = std::max<std::uint64_t>(1, memory / per);
            w = static_cast<int>(std::min<std::uint64_t>(static_cast<std::uint64_t>(w), fit));
        }
        p.layer_workers = std::max(1, w);
    }
    p.blas_threads = want.blas_threads > 0 ? want.blas_threads : std::max(1, cores / p.layer_workers);
    return p;
}

}  // namespace mir
