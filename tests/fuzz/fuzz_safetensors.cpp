// libFuzzer target: safetensors_file::from_bytes (the validation behind
// safetensors_file::open) and reading every tensor it accepts.
#include <mir/io/safetensors.hpp>

#include "fuzz_common.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
        auto f = mir::io::safetensors_file::from_bytes(bytes, "fuzz.safetensors");
        volatile double sink = 0;
        for (const auto& t : f.tensors()) {
            if (f.find(t.name) == nullptr) __builtin_trap();
            sink = sink + mir_fuzz::touch(t);
        }
        for (const auto& [k, v] : f.metadata()) sink = sink + static_cast<double>(k.size() + v.size());
    } catch (const mir::error&) {
        // Rejected input: the expected outcome for most inputs.
    }
    return 0;
}
