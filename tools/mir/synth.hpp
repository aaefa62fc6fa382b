// tools/mir/synth.hpp — `mir synth`: a deterministic synthetic LVLM-like
// dump, so anyone can try the tool without a model (docs/cli.md describes
// the generative model).
#pragma once

#include <cstdint>
#include <string>

namespace mir::tool {

struct synth_options {
    std::string outdir;
    int num_layers = 8;        // K decoder layers: files hold indices 0..K
    long dim = 256;
    int samples = 10;
    long vision_tokens = 64;
    long text_min = 60, text_max = 100;
    int massive = 1;           // massive-activation tokens per sample (layers >= 1)
    long prefix_tokens = 0;    // BOS-like positions before everything, in neither set (text_mask)
    bool text_mask = true;     // with prefix tokens: write a text_mask (false: they count as text)
    std::string dtype = "f16"; // f16 | bf16 | f32 | f64
    std::uint64_t seed = 0;
};

/// Writes outdir/sample_NNNN.safetensors; returns the process exit code.
int run_synth(const synth_options& o);

}  // namespace mir::tool
