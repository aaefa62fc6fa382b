// `mpirun -np N mir compute --mpi DUMPS ...`: the files shared among the
// ranks in contiguous blocks (rank r gets files [r n / N, (r+1) n / N)), every
// layer's passes merged across ranks after each pass (mir/mpi.hpp), rank 0
// reporting exactly what `mir compute DUMPS` reports.
#include "merge.hpp"

#include <mir/mir.hpp>
#include <mir/source/dump.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "layer_runner.hpp"
#include "layers.hpp"
#include "output.hpp"
#include "provenance.hpp"
#include "usage.hpp"

#if MIR_WITH_MPI
#include <mir/mpi.hpp>
#endif

namespace mir::tool {

#if !MIR_WITH_MPI

int run_compute_mpi(const compute_options&) {
    throw usage_error(
        "--mpi: this mir was built without MPI (configure with -DMIR_BUILD_MPI=ON; Debian: "
        "libopenmpi-dev openmpi-bin)");
}

#else

namespace {

// Every rank's string, at rank 0 (others get nothing).
std::vector<std::string> gather_strings(const std::string& mine, int rank, int size) {
    int n = static_cast<int>(mine.size());
    std::vector<int> counts(rank == 0 ? static_cast<std::size_t>(size) : 0), offsets;
    MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
    std::string all;
    if (rank == 0) {
        int total = 0;
        for (int c : counts) {
            offsets.push_back(total);
            total += c;
        }
        all.resize(static_cast<std::size_t>(total));
    }
    MPI_Gatherv(mine.data(), n, MPI_CHAR, all.data(), counts.data(), offsets.data(), MPI_CHAR, 0, MPI_COMM_WORLD);
    std::vector<std::string> out;
    for (std::size_t r = 0; r < counts.size(); ++r) {
        out.push_back(all.substr(static_cast<std::size_t>(offsets[r]), static_cast<std::size_t>(counts[r])));
    }
    return out;
}

int run(const compute_options& given, int rank, int size) {
    compute_options o = given;
    if (rank != 0) {  // rank 0 reports; the others compute and stay silent
        o.json.clear();
        o.plot.clear();
        o.quiet = true;
    }
    std::vector<std::filesystem::path> inputs(o.inputs.begin(), o.inputs.end());
    output_set out;
    out.declare("--json", o.json);
    out.declare("--plot", o.plot);
    std::vector<std::filesystem::path> all_files = expand_inputs(inputs);
    {
        std::vector<std::filesystem::path> everything = all_files;
        everything.insert(everything.end(), inputs.begin(), inputs.end());
        out.check(everything);
    }
    const auto n = all_files.size();
    if (n < static_cast<std::size_t>(size)) {
        throw usage_error("--mpi: " + std::to_string(n) + " file(s) for " + std::to_string(size) +
                          " ranks; every rank needs at least one file");
    }
    const auto block = [&](int r) {
        return std::vector<std::filesystem::path>(all_files.begin() + static_cast<std::ptrdiff_t>(n * r / size),
                                                  all_files.begin() + static_cast<std::ptrdiff_t>(n * (r + 1) / size));
    };
    const dump_summary d = dump_source::open(block(rank));
    // Every rank's files from one model: the same K and hidden size (checked across ranks before any pass).
    std::int64_t mine[2] = {d.num_indices(), d.hidden_size()};
    std::vector<std::int64_t> shapes(static_cast<std::size_t>(2 * size));
    MPI_Allgather(mine, 2, MPI_INT64_T, shapes.data(), 2, MPI_INT64_T, MPI_COMM_WORLD);
    for (int r = 1; r < size; ++r) {
        if (shapes[2 * r] != shapes[0] || shapes[2 * r + 1] != shapes[1]) {
            throw file_error(block(r).front().string() + " (rank " + std::to_string(r) +
                             "): " + std::to_string(shapes[2 * r]) + " hidden-state indices of size " +
                             std::to_string(shapes[2 * r + 1]) + ", but " + block(0).front().string() +
                             " (rank 0) has " + std::to_string(shapes[0]) + " of size " + std::to_string(shapes[1]));
        }
    }
    const std::vector<int> layers = parse_layers(o.layers, d.num_indices());
    thread_options t = o.threads;
    t.layers = 1;  // layer by layer: the collectives stay on this thread
    run_details run;
    run.sub = o.sub;
    run.layers = layers;
    run.layer_seconds.assign(layers.size(), 0.0);
    // --ci: file i of all ranks' files (rank r's block begins at n r / N) in group i mod G, as in one process.
    const int groups = o.ci > 0.0 ? jackknife_groups(o, n) : 0;
    const std::size_t first = n * static_cast<std::size_t>(rank) / static_cast<std::size_t>(size);
    run.threads = plan_and_apply_threads(t, 1, d.hidden_size(), groups);
    std::vector<layer_result> results(layers.size());
    std::vector<layer_jackknife> jackknifes(groups > 0 ? layers.size() : 0);
    for (std::size_t i = 0; i < layers.size(); ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        with_precision(o.precision, [&]<class Acc>() {
            if (groups == 0) {
                const auto replay = [&](auto&& sink) { d.replay_layer(layers[i], sink); };
                const layer_statistics s = mpi::compute_layer_statistics<Acc>(replay, d.hidden_size(), o.policy,
                                                                              layers[i], MPI_COMM_WORLD);
                if (rank == 0) results[i] = compute_layer(s, o.sqrt);
                return;
            }
            layer_passes<Acc> p(d.hidden_size(), o.policy, layers[i], groups);
            const auto group_of = [&](std::size_t f) {
                p.set_group(static_cast<int>((first + f) % static_cast<std::size_t>(groups)));
            };
            while (!p.done()) {
                run_pass(p, [&](auto&& sink) { d.replay_layer(layers[i], sink, group_of); });
                mpi::end_pass(p, MPI_COMM_WORLD);
            }
            if (rank == 0) {
                layer_options lo;
                lo.policy = o.policy;
                lo.sqrt = o.sqrt;
                lo.layer = layers[i];
                jackknifes[i] = finish_layer_jackknife(p, lo);
                results[i] = jackknifes[i].result;
            }
        });
        run.layer_seconds[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    // Where the rows came from: every rank's inputs, in rank order.
    const std::vector<std::string> records = gather_strings(inputs_record(d).dump(), rank, size);
    if (rank == 0) {
        std::vector<nlohmann::json> parsed;
        for (const auto& r : records) parsed.push_back(nlohmann::json::parse(r));
        result_origin origin;
        origin.inputs = combined_inputs(parsed);
        origin.files = n;
        origin.hidden_size = d.hidden_size();
        origin.num_indices = d.num_indices();
        std::optional<result_uncertainty> ci;
        if (groups > 0) ci = result_uncertainty{jackknife_mir(jackknifes, o.ci)};
        report_result(std::move(results), o, origin, run, out, ci ? &*ci : nullptr);
    }
    return 0;
}

}  // namespace

int run_compute_mpi(const compute_options& o) {
    int ready = 0;
    MPI_Initialized(&ready);
    if (!ready) MPI_Init(nullptr, nullptr);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int code = 0;
    try {
        code = run(o, rank, size);
    } catch (const std::exception& e) {
        // One rank's error ends every rank (the others would wait in a collective forever).
        if (size > 1) {
            const bool usage = dynamic_cast<const usage_error*>(&e) != nullptr;
            std::fprintf(stderr, "mir: %s (rank %d of %d): %s\n", usage ? "usage error" : "error", rank, size,
                         e.what());
            std::fflush(stderr);
            MPI_Abort(MPI_COMM_WORLD, usage ? 2 : 1);
        }
        MPI_Finalize();
        throw;  // one rank: main reports it as always
    }
    MPI_Finalize();
    return code;
}

#endif

}  // namespace mir::tool
