// examples/eigen_fid.cpp — Fréchet distance and MIR straight from Eigen
// matrices (docs/adapters.md). Any Eigen object with storage works: Matrix,
// Map, Ref, Block; row-major storage is read in place, column-major (Eigen's
// default) through bounded row-major copy blocks.
//
//   1. one layer's FID from a vision and a text matrix (column-major);
//   2. MIR over four layers, the hidden states of each sample pushed layer by
//      layer into a hidden_state_sink as Eigen row-major matrices;
//   3. a check that the column-major and row-major paths agree.
#include <mir/mir.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstdio>
#include <random>

int main() {
    const Eigen::Index d = 24;
    std::mt19937 rng(2025);
    std::normal_distribution<double> g(0.0, 1.0);
    auto gaussian = [&](Eigen::Index rows, double shift, double scale) {
        Eigen::MatrixXd m(rows, d);  // column-major
        for (Eigen::Index i = 0; i < rows; ++i) {
            for (Eigen::Index j = 0; j < d; ++j) m(i, j) = scale * g(rng) + shift * static_cast<double>(j % 4);
        }
        return m;
    };

    // 1. One layer: 300 vision rows, 200 text rows.
    const Eigen::MatrixXd vision = gaussian(300, 0.5, 2.0), text = gaussian(200, 0.0, 1.0);
    const mir::layer_result one = mir::compute_layer_from_tensors(vision, text);
    std::printf("one layer from Eigen::MatrixXd: FID %.6f (alpha %.4f, %td + %td outliers replaced)\n", one.fid,
                one.alpha, one.vision.outliers, one.text.outliers);

    // 3. The same rows, row-major (viewed in place), must give the same layer.
    using row_major = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const row_major vision_rm = vision, text_rm = text;
    const mir::layer_result same = mir::compute_layer_from_tensors(vision_rm, text_rm);
    std::printf("same rows, row-major:            FID %.6f\n", same.fid);
    if (std::abs(same.fid - one.fid) > 1e-12 * one.fid) {
        std::fprintf(stderr, "row-major and column-major layouts disagree\n");
        return 1;
    }

    // 2. MIR over K = 4 layers, 6 samples of 80 tokens (32 image tokens first).
    const int indices = 5;  // embeddings + 4 decoder layers
    mir::hidden_state_sink sink(indices, d);
    for (int sample = 0; sample < 6; ++sample) {
        const Eigen::Index tokens = 80;
        sink.begin_sample(mir::vision_positions::from_ranges({{0, 32}}, tokens));
        for (int k = 0; k < indices; ++k) {
            row_major hidden(tokens, d);
            const double gap = 2.0 / (1.0 + k);  // the modality gap closes with depth
            for (Eigen::Index t = 0; t < tokens; ++t) {
                for (Eigen::Index j = 0; j < d; ++j) hidden(t, j) = g(rng) + (t < 32 ? gap : 0.0);
            }
            sink.push(k, hidden);  // a forward hook would do this as layer k finishes
        }
        sink.end_sample();
    }
    const mir::mir_result r = sink.finalize();
    for (const auto& l : r.layers) std::printf("  layer %d  FID %.6f\n", l.layer, l.fid);
    std::printf("MIR = %.6f\n", r.mir);
    return std::isfinite(r.mir) ? 0 : 1;
}
