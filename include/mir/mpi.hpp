// mir/mpi.hpp — exact MIR across MPI ranks (opt-in: CMake target mir::mpi,
// option MIR_BUILD_MPI; Open MPI from Debian). Each rank replays its own
// rows (its share of the files); after every pass the ranks' contributions
// are merged in rank order, exactly as mir merge merges shards
// (mir/stats/layer_passes.hpp, docs/merging.md), and every rank continues
// from the merged state. The result equals one process that read every
// rank's rows in rank order: counts, α, outliers and medians exactly, the
// moments to rounding.
//
//     MPI_Init(&argc, &argv);
//     auto replay = [&](auto&& sink) { for (auto& chunk : my_rows) sink(chunk.is_vision, chunk.rows); };
//     mir::layer_statistics s = mir::mpi::compute_layer_statistics(replay, d, policy, layer, MPI_COMM_WORLD);
//     mir::layer_result r = mir::compute_layer(s);   // the same on every rank
//
// Communication per pass and layer: every rank's state is sent to the root
// (point to point, in rank order, merged as it arrives), and the merged
// state broadcast (MPI_Bcast), in messages of at most 1 GiB. A state is what a state file holds (docs/merging.md): at
// d = 4096 in fp64 about 68 MB in pass 1 (median counters) and 200 MB in
// pass 2 (moments + counters), so the root receives N × 200 MB per layer in
// pass 2 and sends 200 MB to every rank.
#pragma once

#include <mpi.h>

#include <Eigen/Core>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "mir/error.hpp"
#include "mir/stats/layer_passes.hpp"
#include "mir/stats/moments.hpp"
#include "mir/stats/state_bytes.hpp"

namespace mir::mpi {

namespace detail {

inline void check(int rc, const char* what) {
    if (rc != MPI_SUCCESS) {
        throw error(error_kind::numerical,
                    std::string("mir::mpi: ") + what + " failed (MPI error " + std::to_string(rc) + ")");
    }
}

// Messages of at most 1 GiB: MPI counts are int, a pass-2 state at d = 4096
// with jackknife groups is several GB. MIR_MPI_CHUNK_BYTES sets a smaller
// size (the tests use it to send every state in many pieces).
inline std::size_t chunk_size() {
    static const std::size_t n = [] {
        const char* e = std::getenv("MIR_MPI_CHUNK_BYTES");
        const unsigned long long v = e ? std::strtoull(e, nullptr, 10) : 0;
        return v > 0 && v < (std::size_t{1} << 30) ? static_cast<std::size_t>(v) : std::size_t{1} << 30;
    }();
    return n;
}

inline void send_bytes(const std::vector<std::byte>& b, int dest, MPI_Comm comm) {
    std::uint64_t len = b.size();
    check(MPI_Send(&len, 1, MPI_UINT64_T, dest, 0, comm), "MPI_Send");
    const std::size_t chunk = chunk_size();
    for (std::size_t at = 0; at < b.size(); at += chunk) {
        const int n = static_cast<int>(std::min(chunk, b.size() - at));
        check(MPI_Send(b.data() + at, n, MPI_BYTE, dest, 1, comm), "MPI_Send");
    }
}

inline std::vector<std::byte> recv_bytes(int source, MPI_Comm comm) {
    std::uint64_t len = 0;
    check(MPI_Recv(&len, 1, MPI_UINT64_T, source, 0, comm, MPI_STATUS_IGNORE), "MPI_Recv");
    std::vector<std::byte> b(static_cast<std::size_t>(len));
    const std::size_t chunk = chunk_size();
    for (std::size_t at = 0; at < b.size(); at += chunk) {
        const int n = static_cast<int>(std::min(chunk, b.size() - at));
        check(MPI_Recv(b.data() + at, n, MPI_BYTE, source, 1, comm, MPI_STATUS_IGNORE), "MPI_Recv");
    }
    return b;
}

inline void bcast_bytes(std::vector<std::byte>& b, int root, MPI_Comm comm) {
    std::uint64_t len = b.size();
    check(MPI_Bcast(&len, 1, MPI_UINT64_T, root, comm), "MPI_Bcast");
    b.resize(static_cast<std::size_t>(len));
    const std::size_t chunk = chunk_size();
    for (std::size_t at = 0; at < b.size(); at += chunk) {
        const int n = static_cast<int>(std::min(chunk, b.size() - at));
        check(MPI_Bcast(b.data() + at, n, MPI_BYTE, root, comm), "MPI_Bcast");
    }
}

}  // namespace detail

/// Ends the pass in progress of `state` on every rank of `comm`: the ranks'
/// contributions merged in rank order, the pass ended once, and the merged
/// state handed to every rank. Collective: every rank calls it for the same
/// layer at the same pass, its `state` holding what the passes before
/// decided plus its own rows of this pass. The root receives the ranks'
/// states one at a time (in messages of at most 1 GiB), so it holds two
/// states, not N, and a state may exceed one MPI message.
template <accumulator_type Acc>
void end_pass(layer_passes<Acc>& state, MPI_Comm comm = MPI_COMM_WORLD, int root = 0) {
    int rank = 0, size = 1;
    detail::check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
    detail::check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
    const std::string where = "layer " + std::to_string(state.layer()) + ", pass " + std::to_string(state.pass());
    std::vector<std::byte> merged;
    if (rank != root) {
        detail::send_bytes(state_to_bytes(state), root, comm);
    } else {
        layer_passes<Acc> m(state.dim(), state.policy(), state.layer());
        for (int r = 0; r < size; ++r) {
            const std::vector<std::byte> b = r == root ? state_to_bytes(state) : detail::recv_bytes(r, comm);
            const std::string from = where + ", rank " + std::to_string(r);
            if (r == 0) {
                state_from_bytes(m, b, from);
            } else {
                layer_passes<Acc> other(state.dim(), state.policy(), state.layer());
                state_from_bytes(other, b, from);
                m.merge(other);
            }
        }
        m.end_pass();
        merged = state_to_bytes(m);
    }
    detail::bcast_bytes(merged, root, comm);
    state_from_bytes(state, merged, where + ", the merged state");
}

/// One layer's exact statistics with each rank of `comm` replaying its own
/// rows (`replay(sink)` as for compute_layer_statistics_multipass); the
/// same result on every rank. Collective.
template <accumulator_type Acc = double, class Replay>
[[nodiscard]] layer_statistics compute_layer_statistics(Replay&& replay, index_t dim,
                                                        outlier_policy policy = outlier_policy::replace_median,
                                                        int layer = -1, MPI_Comm comm = MPI_COMM_WORLD,
                                                        const progress_callback& progress = {}) {
    layer_passes<Acc> p(dim, policy, layer);
    while (!p.done()) {
        run_pass(p, replay, progress);
        end_pass(p, comm);
    }
    return p.finish();
}

}  // namespace mir::mpi
