// libFuzzer target: npz_file::from_bytes (libzip on a memory buffer) and
// reading every .npy member.
#include <mir/io/npz.hpp>

#include "fuzz_common.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
        auto z = mir::io::npz_file::from_bytes(bytes, "fuzz.npz");
        volatile double sink = 0;
        for (const auto& name : z.names()) {
            try {
                const auto a = z.read(name);
                sink = sink + mir_fuzz::touch(a.view(name));
            } catch (const mir::error&) {
                // A bad member; the others are still read.
            }
        }
    } catch (const mir::error&) {
    }
    return 0;
}
