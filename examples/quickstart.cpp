// examples/quickstart.cpp — the core API in one page (docs/api.md walks
// through it). Builds with nothing but mir and Eigen.
//
//   1. the Fréchet distance of two Gaussians from means and covariances;
//   2. one layer's FID from vision and text token rows (the official
//      pipeline: text-centric scale, 3σ outlier rule, exact square root);
//   3. MIR over layers, fed sample by sample as a model's forward pass
//      produces hidden states.
#include <mir/mir.hpp>

#include <cstdio>
#include <random>
#include <vector>

int main() {
    // 1. Two Gaussians.
    Eigen::VectorXd mu1(2), mu2(2);
    mu1 << 0.0, 1.0;
    mu2 << 1.0, 1.0;
    Eigen::MatrixXd s1(2, 2), s2(2, 2);
    s1 << 2.0, 0.5, 0.5, 1.0;
    s2 << 1.0, 0.0, 0.0, 1.0;
    std::printf("FID of two Gaussians: %.6f\n", mir::frechet_distance(mu1, s1, mu2, s2));

    // 2. One layer from token rows (row-major, any of f16/bf16/f32/f64).
    const mir::index_t d = 32, n_vision = 96, n_text = 64;
    std::mt19937 rng(7);
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<mir::half> vision(n_vision * d);
    std::vector<float> text(n_text * d);
    for (auto& x : vision) x = mir::half(2.0f * g(rng) + 0.5f);
    for (auto& x : text) x = g(rng);
    mir::layer_options opt;  // replace-median, fp64 accumulation
    opt.layer = 1;
    const mir::layer_result r = mir::compute_layer(mir::row_view<mir::half>(vision.data(), n_vision, d),
                                                   mir::row_view<float>(text.data(), n_text, d), opt);
    std::printf("layer %d: FID %.6f (alpha %.4f, mean term %.4f, trace sqrt %.4f, %td/%td outliers)\n", r.layer,
                r.fid, r.alpha, r.terms.mean_term, r.terms.trace_sqrt, r.vision.outliers, r.text.outliers);

    // 3. MIR, sample by sample: hidden states [K+1, T, d] and a vision mask.
    const int indices = 5;  // K = 4 decoder layers + the embeddings (index 0)
    mir::mir_accumulator acc(indices, d);  // layers 1..K, as the official code
    for (int sample = 0; sample < 8; ++sample) {
        const mir::index_t tokens = 40;
        std::vector<float> hidden(indices * tokens * d);
        std::vector<std::uint8_t> mask(tokens, 0);
        for (mir::index_t t = 0; t < 16; ++t) mask[static_cast<std::size_t>(t)] = 1;  // 16 image tokens
        for (int k = 0; k < indices; ++k) {
            const float gap = 1.0f / static_cast<float>(1 + k);  // the modality gap closes with depth
            for (mir::index_t t = 0; t < tokens; ++t) {
                for (mir::index_t j = 0; j < d; ++j) {
                    hidden[static_cast<std::size_t>((k * tokens + t) * d + j)] = g(rng) + (mask[t] ? gap : 0.0f);
                }
            }
        }
        for (int k = 0; k < indices; ++k) {
            acc.add(k, mir::row_view<float>(hidden.data() + k * tokens * d, tokens, d),
                    std::span<const std::uint8_t>(mask));
        }
    }
    const mir::mir_result m = acc.finalize();
    for (const auto& l : m.layers) std::printf("  layer %d  FID %.6f\n", l.layer, l.fid);
    std::printf("MIR = %.6f\n", m.mir);
    return 0;
}
