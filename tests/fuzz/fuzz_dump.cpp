// libFuzzer target: the dump layer. The first byte picks the format (even:
// .safetensors, odd: .npz), the rest is written to a temporary file, opened
// as a dump_source (layout detection, the mask, the dimension checks) and
// one layer is computed through compute_layer_multipass under
// replace-median (three passes over the file, each reopening it from the
// cached index), then through feed_sample.
#include <mir/metric/multipass.hpp>
#include <mir/source/dump_source.hpp>

#include "fuzz_common.hpp"

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

std::filesystem::path temp_path(bool npz) {
    static const std::filesystem::path dir = [] {
        auto d = std::filesystem::temp_directory_path() / ("mir_fuzz_dump_" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        return d;
    }();
    return dir / (npz ? "input.npz" : "input.safetensors");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const bool npz = (data[0] & 1) != 0;
    const auto path = temp_path(npz);
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
    }
    try {
        const auto src = mir::dump_source::open(path);
        // The statistics hold d x d matrices: keep d small (a deflated npz
        // can declare a large one legitimately; that is memory, not a bug).
        if (src.hidden_size() > 64 || src.vision_rows() + src.text_rows() > 4096) return 0;
        const int k = src.num_indices() > 1 ? 1 : 0;
        mir::layer_options o;
        o.layer = k;
        const auto replay = [&](auto&& sink) { src.replay_layer(k, sink); };
        volatile double sink = mir::compute_layer_multipass<double>(replay, src.hidden_size(), o).fid;
        mir::accumulator_options ao;
        ao.layers = {k};
        sink = sink + mir::compute_mir(src, ao).mir;
    } catch (const mir::error&) {
        // Rejected input or statistics that cannot be formed (too few rows,
        // non-finite values): the expected outcome for most inputs.
    }
    return 0;
}
