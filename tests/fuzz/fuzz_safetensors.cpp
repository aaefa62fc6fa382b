// libFuzzer target: safetensors_file::from_bytes (the validation behind
// safetensors_file::open) and reading every tensor it accepts.
#include <mir/io/safetensors.hpp>

#include "fuzz_common.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return mir_fuzz::run_input(
        data, size, [](auto bytes) { return mir::io::safetensors_file::from_bytes(bytes, "fuzz.safetensors"); },
        [](const auto& f, auto&& add) {
            for (const auto& t : f.tensors()) {
                if (f.find(t.name) == nullptr) __builtin_trap();
                add(mir_fuzz::touch(t));
            }
            for (const auto& [k, v] : f.metadata()) add(static_cast<double>(k.size() + v.size()));
        });
}
