// examples/moca_forward_backward.cpp — the MoCa calibration layer
// (docs/moca.md): forward on a bf16 block of hidden states with a vision
// mask, backward for a toy loss, one plain gradient step, and the
// moment-matching initialiser on the same rows. Builds with nothing but mir
// and Eigen.
#include <mir/mir.hpp>

#include <cstdint>
#include <cstdio>
#include <random>
#include <span>
#include <vector>

int main() {
    const mir::index_t tokens = 12, d = 8;
    // Positions 2..7 are vision tokens (e.g. the image patch embeddings).
    std::vector<std::uint8_t> mask(tokens, 0);
    for (int i = 2; i < 8; ++i) mask[static_cast<std::size_t>(i)] = 1;
    const auto vision = mir::moca::vision_positions::from_mask(std::span<const std::uint8_t>(mask));

    std::mt19937 rng(1);
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<mir::bfloat16> h(static_cast<std::size_t>(tokens * d));
    for (mir::index_t i = 0; i < tokens; ++i) {
        const bool is_vision = mask[static_cast<std::size_t>(i)] != 0;
        for (mir::index_t j = 0; j < d; ++j) {
            h[static_cast<std::size_t>(i * d + j)] = mir::bfloat16(is_vision ? 3.0f * g(rng) + 2.0f : g(rng));
        }
    }

    // u ~ N(1, 0.02), v ~ N(0, 0.02) from a seeded portable generator.
    mir::moca::init_options init;
    init.stddev = 0.02;
    init.seed = 7;
    mir::moca::layer_calibration layer = mir::moca::init_calibration(1, d, init).layers[0];

    // Forward, out of place: vision rows become u ⊙ h + v (float32 math, cast
    // back to bf16); text rows are copied unchanged.
    std::vector<mir::bfloat16> y(h.size());
    mir::moca::forward(layer, mir::row_view<mir::bfloat16>(h.data(), tokens, d),
                       mir::moca::mutable_rows<mir::bfloat16>(y.data(), tokens, d), vision);
    std::printf("row 2 (vision), dim 0: h = %.4f -> %.4f\n", static_cast<float>(h[2 * d]), static_cast<float>(y[2 * d]));
    std::printf("row 0 (text),   dim 0: h = %.4f -> %.4f\n", static_cast<float>(h[0]), static_cast<float>(y[0]));

    // Backward for L = ½ Σ ψ(h)² over the vision rows: ∂L/∂ψ = ψ there, 0 elsewhere.
    std::vector<mir::bfloat16> grad_out(h.size(), mir::bfloat16(0.0f));
    for (mir::index_t i = 2; i < 8; ++i) {
        for (mir::index_t j = 0; j < d; ++j) grad_out[static_cast<std::size_t>(i * d + j)] = y[static_cast<std::size_t>(i * d + j)];
    }
    mir::moca::gradients grads(d);
    std::vector<mir::bfloat16> grad_in(h.size());
    mir::moca::mutable_rows<mir::bfloat16> gi(grad_in.data(), tokens, d);
    mir::moca::backward(layer, mir::row_view<mir::bfloat16>(h.data(), tokens, d),
                        mir::row_view<mir::bfloat16>(grad_out.data(), tokens, d), vision, grads, &gi);
    std::printf("dL/du[0..3] = %.4f %.4f %.4f %.4f\n", grads.scale[0], grads.scale[1], grads.scale[2], grads.scale[3]);
    std::printf("dL/dv[0..3] = %.4f %.4f %.4f %.4f\n", grads.shift[0], grads.shift[1], grads.shift[2], grads.shift[3]);
    std::printf("dL/dh row 2, dim 0 = %.4f (= u[0] * g)\n", static_cast<float>(grad_in[2 * d]));

    // One gradient step shrinks the calibrated vision rows.
    const auto loss = [&](const mir::moca::layer_calibration& p) {
        std::vector<mir::bfloat16> z(h.size());
        mir::moca::forward(p, mir::row_view<mir::bfloat16>(h.data(), tokens, d),
                           mir::moca::mutable_rows<mir::bfloat16>(z.data(), tokens, d), vision);
        double s = 0.0;
        for (mir::index_t i = 2; i < 8; ++i) {
            for (mir::index_t j = 0; j < d; ++j) s += 0.5 * static_cast<double>(static_cast<float>(z[static_cast<std::size_t>(i * d + j)])) * static_cast<float>(z[static_cast<std::size_t>(i * d + j)]);
        }
        return s;
    };
    mir::moca::layer_calibration stepped = layer;
    stepped.scale -= 1e-3 * grads.scale;
    stepped.shift -= 1e-3 * grads.shift;
    std::printf("loss %.4f -> %.4f after one step of size 1e-3\n", loss(layer), loss(stepped));

    // The moment-matching initialiser: vision rows get the text rows' per-
    // dimension mean and std (here from this one block; mir moca-init does it
    // per layer from dumps).
    std::vector<mir::bfloat16> vis_rows(h.begin() + 2 * d, h.begin() + 8 * d), txt_rows;
    txt_rows.insert(txt_rows.end(), h.begin(), h.begin() + 2 * d);
    txt_rows.insert(txt_rows.end(), h.begin() + 8 * d, h.end());
    const auto stats = mir::compute_layer_statistics(mir::row_view<mir::bfloat16>(vis_rows.data(), 6, d),
                                                           mir::row_view<mir::bfloat16>(txt_rows.data(), 6, d),
                                                           mir::outlier_policy::none);
    const auto m = mir::moca::moment_match(stats);
    std::printf("moment matching: u[0] = %.4f, v[0] = %.4f; FID %.4f -> %.4f (immediate effect on these rows)\n",
                m.params.scale[0], m.params.shift[0], m.fid_before(), m.fid_after());
    return loss(stepped) < loss(layer) && m.fid_after() < m.fid_before() ? 0 : 1;
}
