// libFuzzer target: parse_npy (both the copying and the buffer-reusing
// overloads) and reading every element of what it accepts.
#include <mir/io/npy.hpp>

#include "fuzz_common.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
    bool accepted = false;
    mir::io::npy_array a;
    try {
        a = mir::io::parse_npy(bytes, "fuzz.npy");
        accepted = true;
        volatile double sink = mir_fuzz::touch(a.view("array"));
        (void)sink;
    } catch (const mir::error&) {
    }
    try {
        auto b = mir::io::parse_npy(std::vector<std::byte>(bytes.begin(), bytes.end()), "fuzz.npy");
        // Both overloads accept the same inputs and give the same array.
        if (!accepted || b.shape != a.shape || b.dtype != a.dtype || b.data != a.data) __builtin_trap();
    } catch (const mir::error&) {
        if (accepted) __builtin_trap();
    }
    return 0;
}
