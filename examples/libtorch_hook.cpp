// examples/libtorch_hook.cpp — MIR from a running libtorch model, one layer
// at a time (docs/integrations.md).
//
// A small stand-in for an LVLM decoder: an embedding of "image" and "text"
// inputs followed by K randomly initialised residual blocks. libtorch's C++
// modules have no forward hooks of their own (those are a Python feature),
// so the decoder here offers one: a callback run on each block's output
// as soon as it is computed — where a real integration would sit. The hook
// pushes the output ([1, T, d], float, CPU) into a mir::hidden_state_sink;
// the model never keeps more than one layer's output alive. Built when
// CMake finds libtorch (g++ only).
#include <mir/adapters/libtorch.hpp>
#include <mir/mir.hpp>

#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <vector>

namespace {

struct block_impl : torch::nn::Module {
    explicit block_impl(int64_t d) : norm(register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})))),
                                     fc(register_module("fc", torch::nn::Linear(d, d))) {}
    torch::Tensor forward(const torch::Tensor& x) { return x + 0.5 * torch::tanh(fc(norm(x))); }
    torch::nn::LayerNorm norm;
    torch::nn::Linear fc;
};
TORCH_MODULE_IMPL(block, block_impl);

struct decoder_impl : torch::nn::Module {
    using hook = std::function<void(int index, const torch::Tensor& hidden)>;

    decoder_impl(int64_t layers, int64_t d) {
        for (int64_t i = 0; i < layers; ++i) blocks.push_back(register_module("block" + std::to_string(i), block(d)));
    }
    // hidden-state index 0 = the embeddings, i = output of block i.
    torch::Tensor forward(torch::Tensor x) {
        for (const auto& h : hooks) h(0, x);
        for (std::size_t i = 0; i < blocks.size(); ++i) {
            x = blocks[i]->forward(x);
            for (const auto& h : hooks) h(static_cast<int>(i + 1), x);
        }
        return x;
    }
    std::vector<block> blocks;
    std::vector<hook> hooks;
};
TORCH_MODULE_IMPL(decoder, decoder_impl);

}  // namespace

int main() {
    torch::manual_seed(0);
    const int64_t layers = 4, d = 64;
    decoder model(layers, d);
    model->eval();
    torch::NoGradGuard no_grad;

    mir::hidden_state_sink sink(static_cast<int>(layers + 1), d);
    model->hooks.push_back([&](int index, const torch::Tensor& hidden) {
        if (sink.wants(index)) sink.push(index, hidden);  // [1, T, d] float CPU, read in place
    });

    for (int sample = 0; sample < 8; ++sample) {
        const int64_t image_tokens = 32, text_tokens = 40 + 4 * sample;
        // Image tokens come from a "projector" with their own statistics.
        torch::Tensor image = 2.0 * torch::randn({1, image_tokens, d}) + 1.0;
        torch::Tensor text = torch::randn({1, text_tokens, d});
        torch::Tensor x = torch::cat({text.narrow(1, 0, 5), image, text.narrow(1, 5, text_tokens - 5)}, 1);
        sink.begin_sample(mir::vision_positions::from_ranges({{5, 5 + image_tokens}}, x.size(1)));
        model->forward(x);
        sink.end_sample();
    }
    const mir::mir_result r = sink.finalize();
    for (const auto& l : r.layers) std::printf("  layer %d  FID %.6f\n", l.layer, l.fid);
    std::printf("MIR = %.6f over %td samples\n", r.mir, sink.samples());
    return std::isfinite(r.mir) ? 0 : 1;
}
