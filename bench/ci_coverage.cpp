// bench/ci_coverage.cpp — how often `mir compute --ci` covers the true MIR
// (docs/uncertainty.md). Synthetic samples whose tokens share a per-sample
// random effect (as the tokens of one image do), a few far rows per layer
// (the 3σ rule and replace-median at work), several layers; the true MIR is
// that of one very large pool of samples from the same model. Each
// repetition draws N fresh samples, computes MIR with the grouped jackknife
// of mir/metric/uncertainty.hpp (the program's code path: layer_passes with
// groups, replace-median, exact square root) and records whether the
// interval holds the truth, and its width.
//
//   ci_coverage [reps=1000] [pool=20000] [seed=1]
//
// Prints a Markdown table: N, G, coverage of the 95% interval (centred at
// the bias-corrected value, as the program reports it; and centred at θ̂),
// its binomial standard error, the mean width and the mean |bias|.
#include <mir/metric/uncertainty.hpp>
#include <mir/mir.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

constexpr mir::index_t d = 8;
constexpr int layers = 3;

struct sample {
    std::vector<double> vis[layers], txt[layers];  // row-major, d columns
};

// One sample: 24 vision tokens, 8–40 text tokens; per layer, a mean gap
// that shrinks with depth, a random effect shared by the sample's tokens.
sample draw(std::mt19937_64& rng) {
    std::normal_distribution<double> g(0.0, 1.0);
    std::uniform_int_distribution<int> text_len(8, 40);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    sample s;
    const int nt = text_len(rng);
    for (int k = 0; k < layers; ++k) {
        const double gap = 1.2 / (1.0 + k);
        double effect_v[d], effect_t[d];
        for (mir::index_t j = 0; j < d; ++j) {
            effect_v[j] = 0.6 * g(rng);
            effect_t[j] = 0.4 * g(rng);
        }
        for (int m = 0; m < 2; ++m) {
            const int n = m == 0 ? 24 : nt;
            std::vector<double>& out = m == 0 ? s.vis[k] : s.txt[k];
            out.resize(static_cast<std::size_t>(n * d));
            for (int i = 0; i < n; ++i) {
                const double far = u(rng) < 0.01 ? 12.0 : 1.0;  // massive activations, now and then
                for (mir::index_t j = 0; j < d; ++j) {
                    const double mean = m == 0 ? gap * std::cos(0.7 * static_cast<double>(j)) : 0.0;
                    const double spread = m == 0 ? 1.0 + 0.1 * static_cast<double>(j) : 1.0;
                    out[static_cast<std::size_t>(i * d + j)] = far * (mean + (m == 0 ? effect_v[j] : effect_t[j]) +
                                                                      spread * g(rng));
                }
            }
        }
    }
    return s;
}

// Every layer's jackknife over `data` with `groups` groups.
std::vector<mir::layer_jackknife> jackknife(const std::vector<sample>& data, int groups) {
    std::vector<mir::layer_jackknife> out;
    for (int k = 0; k < layers; ++k) {
        mir::layer_options opt;
        opt.layer = k + 1;
        const auto replay = [&](auto&& sink, auto&& on_sample) {
            for (std::size_t i = 0; i < data.size(); ++i) {
                on_sample(i);
                const auto& v = data[i].vis[k];
                const auto& t = data[i].txt[k];
                sink(true, mir::row_view<double>(v.data(), static_cast<mir::index_t>(v.size()) / d, d));
                sink(false, mir::row_view<double>(t.data(), static_cast<mir::index_t>(t.size()) / d, d));
            }
        };
        out.push_back(mir::compute_layer_jackknife<double>(replay, d, groups, opt));
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    const int reps = argc > 1 ? std::atoi(argv[1]) : 1000;
    const int pool = argc > 2 ? std::atoi(argv[2]) : 20000;
    const unsigned seed = argc > 3 ? static_cast<unsigned>(std::atoi(argv[3])) : 1u;
    const auto t0 = std::chrono::steady_clock::now();
    std::mt19937_64 rng(seed);

    // The truth: MIR of a very large pool (its own jackknife gives its standard error).
    std::vector<sample> big;
    for (int i = 0; i < pool; ++i) big.push_back(draw(rng));
    const mir::mir_jackknife truth_j = mir::jackknife_mir(jackknife(big, 10));
    const double truth = truth_j.mir.estimate;
    std::printf("true MIR (pool of %d samples) = %.6f (its own std. error %.2g)\n\n", pool, truth,
                truth_j.mir.std_error);
    std::printf(
        "| N | G | coverage (95%%, as reported: bias-corrected centre) | ± | coverage (centred at MIR) | mean width | "
        "mean std. error | mean bias estimate |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n");

    struct config {
        int n, g;
    };
    const config configs[] = {{100, 10}, {100, 20}, {100, 100}, {25, 10}, {50, 10}, {200, 10}, {400, 10}};
    for (const config& c : configs) {
        int hit = 0, hit_theta = 0;
        double width = 0.0, se = 0.0, bias = 0.0;
        for (int r = 0; r < reps; ++r) {
            std::vector<sample> data;
            for (int i = 0; i < c.n; ++i) data.push_back(draw(rng));
            const mir::jackknife_interval j = mir::jackknife_mir(jackknife(data, c.g)).mir;
            hit += j.lower <= truth && truth <= j.upper ? 1 : 0;
            const double half = j.upper - j.bias_corrected();
            hit_theta += std::abs(j.estimate - truth) <= half ? 1 : 0;  // the same width centred at MIR itself
            width += j.upper - j.lower;
            se += j.std_error;
            bias += j.bias;
        }
        const double p = static_cast<double>(hit) / reps;
        std::printf("| %d | %d | %.3f | %.3f | %.3f | %.4f | %.4f | %.4f |\n", c.n, c.g, p,
                    std::sqrt(p * (1 - p) / reps), static_cast<double>(hit_theta) / reps, width / reps, se / reps,
                    bias / reps);
        std::fflush(stdout);
    }
    std::printf("\n%d repetitions per row, seed %u, %.0f s\n", reps, seed,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return 0;
}
