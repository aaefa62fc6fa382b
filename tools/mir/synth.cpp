#include "synth.hpp"

#include <mir/element.hpp>
#include <mir/error.hpp>
#include <mir/io/safetensors.hpp>

#include <Eigen/Dense>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <vector>

#include "command.hpp"

namespace mir::tool {

namespace {

// A portable generator (splitmix64) and Box–Muller normals: the output is
// the same on every platform for a seed (std::normal_distribution is not).
class rng {
public:
    explicit rng(std::uint64_t seed) : s_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
    double normal() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        double u = 0;
        while (u <= 0) u = uniform();
        const double v = uniform(), r = std::sqrt(-2.0 * std::log(u)), a = 2.0 * M_PI * v;
        spare_ = r * std::sin(a);
        has_spare_ = true;
        return r * std::cos(a);
    }
    long below(long n) { return static_cast<long>(next() % static_cast<std::uint64_t>(n)); }

private:
    std::uint64_t s_;
    double spare_ = 0;
    bool has_spare_ = false;
};

// A low-rank Gaussian: x = mean + basis · (spectrum ⊙ z), z ~ N(0, I_r).
struct low_rank {
    Eigen::VectorXd mean;
    Eigen::MatrixXd basis;  // d x r, orthonormal columns
    Eigen::VectorXd spectrum;
};

low_rank make_model(long d, long r, double scale, double mean_scale, rng& g) {
    low_rank m;
    Eigen::MatrixXd a(d, r);
    for (long i = 0; i < a.size(); ++i) a.data()[i] = g.normal();
    Eigen::HouseholderQR<Eigen::MatrixXd> qr(a);
    m.basis = qr.householderQ() * Eigen::MatrixXd::Identity(d, r);
    m.spectrum.resize(r);
    for (long i = 0; i < r; ++i) {  // decays over 2.5 decades (std), scaled
        m.spectrum[i] = scale * std::pow(10.0, -2.5 * static_cast<double>(i) / static_cast<double>(std::max(1L, r - 1)));
    }
    m.mean.resize(d);
    for (long i = 0; i < d; ++i) m.mean[i] = mean_scale * g.normal();
    return m;
}

// n draws as rows (n x d).
Eigen::MatrixXd draw(const low_rank& m, long n, double noise, rng& g) {
    Eigen::MatrixXd z(n, m.spectrum.size());
    for (long i = 0; i < z.size(); ++i) z.data()[i] = g.normal();
    Eigen::MatrixXd x = (z * m.spectrum.asDiagonal()) * m.basis.transpose();
    x.rowwise() += m.mean.transpose();
    for (long i = 0; i < x.size(); ++i) x.data()[i] += noise * g.normal();
    return x;
}

template <class T>
void append_as(std::vector<std::byte>& out, double v) {
    const T t = static_cast<T>(v);
    const auto* p = reinterpret_cast<const std::byte*>(&t);
    out.insert(out.end(), p, p + sizeof(T));
}

}  // namespace

int run_synth(const synth_options& o) {
    if (o.num_layers < 1 || o.dim < 2 || o.samples < 1 || o.vision_tokens < 2 || o.text_min < 2 ||
        o.text_max < o.text_min || o.massive < 0 || o.prefix_tokens < 0) {
        throw argument_error(
            "synth: need --num-layers >= 1, --dim >= 2, --samples >= 1, --vision-tokens >= 2, "
            "--text-tokens MIN-MAX with 2 <= MIN <= MAX, --massive >= 0, --prefix-tokens >= 0");
    }
    io::file_dtype dt;
    if (o.dtype == "f16") dt = io::file_dtype::f16;
    else if (o.dtype == "bf16") dt = io::file_dtype::bf16;
    else if (o.dtype == "f32") dt = io::file_dtype::f32;
    else if (o.dtype == "f64") dt = io::file_dtype::f64;
    else throw argument_error("synth: --dtype must be f16, bf16, f32 or f64, not '" + o.dtype + "'");

    std::filesystem::create_directories(o.outdir);
    const long d = o.dim, rank = std::max(1L, std::min(d / 4, 256L));
    const int indices = o.num_layers + 1;
    // Per-layer models, fixed by the seed: text, and the separate vision component.
    rng models(o.seed * 0x2545f4914f6cdd1dULL + 1);
    std::vector<low_rank> text, vision;
    for (int k = 0; k < indices; ++k) {
        text.push_back(make_model(d, rank, 1.0, 0.5, models));
        vision.push_back(make_model(d, rank, 3.0, 1.5, models));
    }
    // The BOS-like prefix's massive dimensions (the same in every sample; drawn
    // after the models, so the models do not depend on --prefix-tokens).
    const long bos_dim[2] = {static_cast<long>(models.next() % static_cast<std::uint64_t>(d)),
                             static_cast<long>(models.next() % static_cast<std::uint64_t>(d))};
    for (int n = 0; n < o.samples; ++n) {
        rng g(o.seed * 0x9e3779b97f4a7c15ULL + 0x1000ULL + static_cast<std::uint64_t>(n));
        const long t_text = o.text_min + g.below(o.text_max - o.text_min + 1);
        const long tokens = o.vision_tokens + t_text;  // without the BOS-like prefix
        const long pre = o.prefix_tokens, all_tokens = pre + tokens;
        // A short prompt prefix, then the image tokens, then the rest of the text.
        const long prefix = std::min(5L, t_text);
        std::vector<std::uint8_t> mask(static_cast<std::size_t>(tokens), 0);
        for (long t = prefix; t < prefix + o.vision_tokens; ++t) mask[static_cast<std::size_t>(t)] = 1;
        std::vector<long> massive_tok, massive_dim;
        for (int m = 0; m < o.massive; ++m) {
            massive_tok.push_back(g.below(tokens));
            massive_dim.push_back(g.below(d));
        }
        // BOS-like prefix rows: text-like, plus massive activations in two
        // fixed dimensions from the first decoder layer on (what LLMs' BOS
        // carries, and why the official protocol counts it in neither set).
        // Their own generator: the other rows do not depend on --prefix-tokens.
        rng bos(o.seed * 0x94d049bb133111ebULL + 0x2000ULL + static_cast<std::uint64_t>(n));
        std::vector<std::byte> hidden;
        hidden.reserve(static_cast<std::size_t>(indices * all_tokens * d) * io::size_of(dt));
        for (int k = 0; k < indices; ++k) {
            const double gap = std::exp(-k / 2.5), growth = 1.0 + 0.35 * k;
            const Eigen::MatrixXd tx = draw(text[static_cast<std::size_t>(k)], tokens, 0.05, g);
            const Eigen::MatrixXd tx2 = draw(text[static_cast<std::size_t>(k)], o.vision_tokens, 0.05, g);
            const Eigen::MatrixXd vx = draw(vision[static_cast<std::size_t>(k)], o.vision_tokens, 0.05, g);
            Eigen::MatrixXd rows(tokens, d);
            long v = 0;
            for (long t = 0; t < tokens; ++t) {
                if (mask[static_cast<std::size_t>(t)]) {
                    rows.row(t) = (1.0 - gap) * tx2.row(v) + gap * vx.row(v);
                    ++v;
                } else {
                    rows.row(t) = tx.row(t);
                }
            }
            rows *= growth;
            if (k >= 1) {
                for (int m = 0; m < o.massive; ++m) {
                    rows(massive_tok[static_cast<std::size_t>(m)], massive_dim[static_cast<std::size_t>(m)]) += 400.0 * growth;
                }
            }
            Eigen::MatrixXd bos_rows;
            if (pre > 0) {
                bos_rows = growth * draw(text[static_cast<std::size_t>(k)], pre, 0.05, bos);
                if (k >= 1) {
                    bos_rows.col(bos_dim[0]).array() += 2000.0 * growth;
                    bos_rows.col(bos_dim[1]).array() -= 800.0 * growth;
                }
            }
            for (long t = 0; t < all_tokens; ++t) {
                const auto row = t < pre ? bos_rows.row(t) : rows.row(t - pre);
                for (long j = 0; j < d; ++j) {
                    switch (dt) {
                        case io::file_dtype::f16: append_as<mir::half>(hidden, row(j)); break;
                        case io::file_dtype::bf16: append_as<mir::bfloat16>(hidden, row(j)); break;
                        case io::file_dtype::f32: append_as<float>(hidden, row(j)); break;
                        default: append_as<double>(hidden, row(j)); break;
                    }
                }
            }
        }
        char name[64];
        std::snprintf(name, sizeof name, "sample_%04d.safetensors", n);
        std::vector<io::tensor_to_write> ts;
        std::vector<std::uint8_t> vision_mask(static_cast<std::size_t>(pre), 0), text_mask;
        vision_mask.insert(vision_mask.end(), mask.begin(), mask.end());
        auto bytes = [](const std::vector<std::uint8_t>& m) {
            return std::span<const std::byte>(reinterpret_cast<const std::byte*>(m.data()), m.size());
        };
        ts.push_back({"hidden_states", dt, {indices, all_tokens, d}, std::span<const std::byte>(hidden)});
        ts.push_back({"vision_mask", io::file_dtype::u8, {all_tokens}, bytes(vision_mask)});
        if (pre > 0 && o.text_mask) {  // the prefix in neither set (SPEC §6)
            text_mask.assign(static_cast<std::size_t>(pre), 0);
            for (const std::uint8_t v : mask) text_mask.push_back(v ? 0 : 1);
            ts.push_back({"text_mask", io::file_dtype::u8, {all_tokens}, bytes(text_mask)});
        }
        const std::map<std::string, std::string> meta{{"generator", "mir synth"},
                                                      {"seed", std::to_string(o.seed)},
                                                      {"layers", std::to_string(o.num_layers)}};
        io::write_safetensors(std::filesystem::path(o.outdir) / name, ts, meta);
    }
    std::printf("wrote %d samples to %s (K = %d decoder layers, d = %ld, %s)\n", o.samples, o.outdir.c_str(),
                o.num_layers, d, o.dtype.c_str());
    return 0;
}

command register_synth(CLI::App& app) {
    struct state {
        synth_options o;
        std::string text_tokens = "60-100";
    };
    const auto s = std::make_shared<state>();
    auto* c = app.add_subcommand("synth", "write a deterministic synthetic LVLM-like dump");
    c->add_option("outdir", s->o.outdir, "output directory")->required();
    c->add_option("--num-layers", s->o.num_layers, "K decoder layers (files hold K+1 indices)");
    c->add_option("--dim", s->o.dim, "hidden size");
    c->add_option("--samples", s->o.samples, "number of sample files");
    c->add_option("--vision-tokens", s->o.vision_tokens, "vision tokens per sample");
    c->add_option("--text-tokens", s->text_tokens, "text tokens per sample, MIN-MAX");
    c->add_option("--massive", s->o.massive, "massive-activation tokens per sample");
    c->add_option("--prefix-tokens", s->o.prefix_tokens,
                  "BOS-like positions (massive activations) before each sample, in neither set: a text_mask is "
                  "written (SPEC §6)");
    c->add_flag("!--no-text-mask", s->o.text_mask,
                "with --prefix-tokens: write no text_mask, so the prefix counts as text (the all-text protocol)");
    c->add_option("--dtype", s->o.dtype, "f16, bf16, f32 or f64")->check(CLI::IsMember({"f16", "bf16", "f32", "f64"}));
    c->add_option("--seed", s->o.seed, "random seed");
    return {c, [s] {
                const std::string& t = s->text_tokens;
                const auto dash = t.find('-');
                try {
                    s->o.text_min = std::stol(t.substr(0, dash));
                    s->o.text_max = dash == std::string::npos ? s->o.text_min : std::stol(t.substr(dash + 1));
                } catch (const std::exception&) {
                    throw argument_error("--text-tokens '" + t + "': expected MIN-MAX, e.g. 60-100");
                }
                return run_synth(s->o);
            }};
}

}  // namespace mir::tool
