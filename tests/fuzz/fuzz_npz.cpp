// libFuzzer target: npz_file::from_bytes (libzip on a memory buffer), each
// .npy member's header, and reading every member.
#include <mir/io/npz.hpp>

#include "fuzz_common.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return mir_fuzz::run_input(
        data, size, [](auto bytes) { return mir::io::npz_file::from_bytes(bytes, "fuzz.npz"); },
        [](const auto& z, auto&& add) {
            for (const auto& name : z.names()) {
                try {
                    const auto h = z.header(name);
                    const auto a = z.read(name);
                    // The header read alone says what reading the member gives.
                    if (a.dtype != h.dtype || a.shape != h.shape || a.data.size() != h.nbytes) __builtin_trap();
                    add(mir_fuzz::touch(a.view(name)));
                } catch (const mir::error&) {
                    // A bad member; the others are still read.
                }
            }
        });
}
